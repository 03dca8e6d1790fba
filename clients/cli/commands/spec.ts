// How a command is described once: its arguments and options drive parsing (node:util
// parseArgs, strict), the checks of required arguments, and the help text.
import { parseArgs } from 'node:util'
import { ChatError } from '../../sdk/src/errors.ts'
import type { Ctx } from '../context.ts'
import { badInput } from '../exit-codes.ts'

export type Values = Record<string, string | boolean | string[] | undefined>

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Shown in help: "--limit <n>". */
  value?: string
  help: string
}

export interface CommandSpec {
  name: string
  /** Positional arguments: "<channel>", "<text...>" (the last may take the rest), "[server]". */
  args: string[]
  summary: string
  options: Record<string, OptionSpec>
  run(ctx: Ctx, args: string[], values: Values): Promise<number>
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', value: 'url', help: 'the Chime to talk to (default: the signed-in one, else $CHIME_URL, else http://127.0.0.1:8080)' },
  json: { type: 'boolean', help: 'print JSON for scripts instead of text' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
}

export interface Parsed {
  positionals: string[]
  values: Values
}

/** Parses a command's arguments; any mistake is INVALID_FIELD naming the argument or option. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options = { ...GLOBAL_OPTIONS, ...spec.options }
  let parsed: { values: Values; positionals: string[] }
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple === true ? { multiple: true } : {}) }])),
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] }
  } catch (err) {
    const e = err as Error & { code?: string }
    const option = /'(-{1,2}[^'\s]+)/.exec(e.message)?.[1] ?? ''
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw badInput(`${spec.name}: unknown option ${option} (see \`chime help ${spec.name}\`)`, option.replace(/^-+/, ''))
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw badInput(`${spec.name}: ${e.message.replace(/\s+/g, ' ')}`, option.replace(/^-+/, ''))
    throw badInput(`${spec.name}: ${e.message}`, 'arguments')
  }
  if (parsed.values['help'] === true) return parsed
  const required = spec.args.filter((a) => a.startsWith('<'))
  const rest = spec.args.at(-1)?.endsWith('...>') === true || spec.args.at(-1)?.endsWith('...]') === true
  if (parsed.positionals.length < required.length) {
    const missing = required[parsed.positionals.length]!
    throw badInput(`${spec.name}: missing ${missing} (usage: ${usage(spec)})`, missing.replace(/[<>.[\]]/g, ''))
  }
  if (!rest && parsed.positionals.length > spec.args.length) {
    throw badInput(`${spec.name}: unexpected argument "${parsed.positionals[spec.args.length]}" (usage: ${usage(spec)})`, 'arguments')
  }
  return parsed
}

export function usage(spec: CommandSpec): string {
  return ['chime', spec.name, ...spec.args, ...(Object.keys(spec.options).length > 0 ? ['[options]'] : [])].join(' ')
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.value !== undefined ? ` <${o.value}>` : ''}`
    return `  ${flag.padEnd(26)} ${o.help}`
  })
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`usage: ${usage(spec)}`, '', spec.summary]
  if (Object.keys(spec.options).length > 0) lines.push('', 'options:', ...optionLines(spec.options))
  lines.push('', 'global options:', ...optionLines(GLOBAL_OPTIONS))
  return lines.join('\n')
}

/** A whole number option within bounds; undefined when not given. */
export function intOption(values: Values, name: string, min: number, max: number): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badInput(`--${name} must be a whole number from ${min} to ${max}`, name)
  return n
}

/** A seq option (a decimal string); undefined when not given. */
export function seqOption(values: Values, name: string): string | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^\d{1,19}$/.test(raw)) throw badInput(`--${name} must be a seq (a whole number, as history shows after #)`, name)
  return BigInt(raw).toString()
}

export function stringOption(values: Values, name: string): string | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || raw === '') throw new ChatError('INVALID_FIELD', `--${name} needs a value`, { field: name })
  return raw
}
