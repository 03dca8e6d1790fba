// Reading a password: from --password, CHIME_PASSWORD, --password-stdin, or typed on the
// terminal without echo. Never from a terminal-less stdin unless asked (--password-stdin),
// so a script never hangs waiting for input it does not know it must give.
import { badInput, Interrupted } from './exit-codes.ts'
import type { Io } from './context.ts'

/** Asks on the terminal, showing nothing of what is typed. Ctrl-C throws Interrupted. */
export function askHidden(io: Io, question: string): Promise<string> {
  const { stdin, stderr } = io
  return new Promise((resolve, reject) => {
    let value = ''
    stderr.write(question)
    stdin.setRawMode(true)
    stdin.resume()
    stdin.setEncoding('utf8')
    const finish = (err: Error | null): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      stderr.write('\n')
      if (err !== null) reject(err)
      else resolve(value)
    }
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(null)
        if (ch === '\u0003') return finish(new Interrupted())
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('')
        else if (ch === '\u0015') value = '' // Ctrl-U
        else if (ch >= ' ') value += ch
      }
    }
    stdin.on('data', onData)
  })
}

/** The first line of stdin (for --password-stdin). */
export async function readStdinLine(io: Io): Promise<string> {
  let text = ''
  io.stdin.setEncoding('utf8')
  for await (const chunk of io.stdin) {
    text += chunk as string
    const nl = text.indexOf('\n')
    if (nl >= 0) return text.slice(0, nl).replace(/\r$/, '')
  }
  return text
}

/** All of stdin (for `chime send <channel> -`). */
export async function readStdin(io: Io): Promise<string> {
  let text = ''
  io.stdin.setEncoding('utf8')
  for await (const chunk of io.stdin) text += chunk as string
  return text
}

export async function passwordFor(io: Io, opts: { password?: string; passwordStdin?: boolean; confirm?: boolean }): Promise<string> {
  if (opts.password !== undefined) return opts.password
  const fromEnv = io.env['CHIME_PASSWORD']
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (opts.passwordStdin === true) return readStdinLine(io)
  if (io.stdin.isTTY !== true) throw badInput('no password: give --password, set CHIME_PASSWORD, use --password-stdin, or run on a terminal to be asked', 'password')
  const password = await askHidden(io, 'Password: ')
  if (opts.confirm === true && (await askHidden(io, 'Password again: ')) !== password) throw badInput('the two passwords differ', 'password')
  return password
}
