// `chime <command> [arguments] [options]`: finds the command, parses its arguments, runs
// it, and turns any failure into one line on stderr (`chime: CODE: message`, or a JSON
// object with --json) and an exit status of exit-codes.ts.
import { readFileSync } from 'node:fs'
import { ChatError } from '../sdk/src/errors.ts'
import { COMMANDS } from './commands/index.ts'
import { commandHelp, GLOBAL_OPTIONS, parseCommand, type CommandSpec } from './commands/spec.ts'
import { Ctx, normaliseUrl, type Io } from './context.ts'
import { asChatError, EXIT, exitCodeFor, Interrupted } from './exit-codes.ts'
import { jsonText, safeText } from './terminal-text.ts'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
  return pkg.version ?? '0.0.0'
}

export function overallHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args.join(' ')}`.length))
  return [
    'usage: chime <command> [arguments] [options]',
    '       chime                 the interactive mode (on a terminal)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args.join(' ')}`.padEnd(width)}  ${c.summary}`),
    `  ${'help [command]'.padEnd(width)}  Show help.`,
    '',
    'global options:',
    `  --url <url>   ${GLOBAL_OPTIONS['url']!.help}`,
    '  --json        print JSON for scripts instead of text',
    '',
    'A <channel> is an id, server/channel, #channel, or the name of a channel or chat.',
    'Exit status: 0 ok, 1 refused, 2 bad input, 3 not signed in, 4 not found, 5 not allowed,',
    '6 unavailable (retry later), 7 data failed its check, 130 interrupted. See docs/cli.md.',
  ].join('\n')
}

/** Where the command name is: the first argument that is not an option or a global option's value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1
    if (a === '--url') {
      i++
      continue
    }
    if (!a.startsWith('-') || a === '-') return i
  }
  return -1
}

function report(io: Io, json: boolean, err: ChatError): void {
  if (json) io.stderr.write(jsonText({ error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } }) + '\n')
  else io.stderr.write(`chime: ${err.code}: ${safeText(err.message, { singleLine: true })}\n`)
}

/** Runs one command line; answers the exit status. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const json = argv.includes('--json')
  try {
    const at = commandIndex(argv)
    const name = at < 0 ? undefined : argv[at]!
    const rest = at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)]
    if (name === undefined && (rest.includes('--version') || rest.includes('-V'))) {
      io.stdout.write(`chime ${version()}\n`)
      return EXIT.OK
    }
    if (name === 'help' || (name === undefined && (rest.includes('--help') || rest.includes('-h')))) {
      const topic = name === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined
      if (topic === undefined) {
        io.stdout.write(overallHelp() + '\n')
        return EXIT.OK
      }
      const spec = COMMANDS.find((c) => c.name === topic)
      if (spec === undefined) throw new ChatError('UNKNOWN_ACTION', `no command "${topic}"; run \`chime help\``, { command: topic })
      io.stdout.write(commandHelp(spec) + '\n')
      return EXIT.OK
    }
    const spec: CommandSpec | undefined = COMMANDS.find((c) => c.name === (name ?? 'ui'))
    if (spec === undefined) throw new ChatError('UNKNOWN_ACTION', `unknown command "${name}"; run \`chime help\` for the list`, { command: name })
    const { positionals, values } = parseCommand(spec, rest)
    if (values['help'] === true) {
      io.stdout.write(commandHelp(spec) + '\n')
      return EXIT.OK
    }
    const url = typeof values['url'] === 'string' ? normaliseUrl(values['url']) : undefined
    const ctx = new Ctx(io, values['json'] === true, url)
    return await spec.run(ctx, positionals, values)
  } catch (err) {
    if (err instanceof Interrupted) return EXIT.INTERRUPTED
    const error = asChatError(err)
    report(io, json, error)
    return exitCodeFor(error)
  }
}
