// The interactive mode in a real pseudo-terminal (tmux), against a real Chime: it draws the
// channel list and the messages, a typed line is sent and arrives for the other member,
// the other member's posts appear live (control sequences in them shown escaped, the
// screen intact), a resize redraws at the new size, and q quits with exit status 0,
// leaving the terminal as it was. Also the password prompt: nothing typed is echoed, and
// Ctrl-C at it ends with exit status 130.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import type { MessageJson } from '../../clients/sdk/src/index.ts'
import { startTestChime } from '../helpers/chime.ts'
import { defer } from '../helpers/cleanup.ts'
import { requireServices } from '../helpers/databases.ts'
import { waitFor } from '../helpers/wait.ts'
import { lab, MAIN, PASSWORD, postAs, ROOT } from './run-cli.ts'

const run = promisify(execFile)

async function hasTmux(): Promise<boolean> {
  try {
    await run('tmux', ['-V'])
    return true
  } catch {
    return false
  }
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

t.test('chime ui and the password prompt in a terminal', async (t) => {
  if (!(await hasTmux())) {
    if (requireServices) t.fail('tmux is not installed: the terminal test cannot run (CHIME_TEST_SERVICES=require)')
    else t.comment('tmux is not installed; the terminal test is not run (CHIME_TEST_SERVICES=require makes this a failure)')
    return
  }
  const chime = await startTestChime(t)
  const { ann, bob, channelId, serverName } = await lab(t, chime)
  await postAs(chime, bob.token, channelId, 'welcome to the lab')

  const socket = join(ann.cli.home, 'tmux.sock')
  const tmux = (...args: string[]): Promise<{ stdout: string }> => run('tmux', ['-S', socket, '-f', '/dev/null', ...args], { cwd: ROOT })
  const env = Object.entries({ ...ann.cli.env, TERM: 'xterm-256color' }).map(([k, v]) => `${k}=${quote(v)}`).join(' ')
  const command = `env -i ${env} ${quote(process.execPath)} --import tsx ${MAIN}; echo "chime exited with $?"; sleep 600`
  await tmux('new-session', '-d', '-s', 'chime', '-x', '100', '-y', '24', '-c', ROOT, command)
  defer(t, () => tmux('kill-server').catch(() => undefined))
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-t', 'chime')).stdout
  const shows = (what: string, text: string, timeoutMs = 20_000): Promise<string> =>
    waitFor(`the screen to show ${what}`, async () => {
      const s = await screen()
      return s.includes(text) ? s : undefined
    }, timeoutMs)

  // Authors' names are looked up after the page is shown (the short id stands in meanwhile).
  const first = await shows('the channel and its messages', `${bob.username}: welcome to the lab`, 30_000)
  t.match(first, new RegExp(`Chime · ${ann.username} · online`), 'the title with the user and the connection')
  t.match(first, `${serverName}/general`, 'the channel in the list')
  t.match(first, `${bob.username}: welcome to the lab`, 'the latest messages of the selected channel')
  t.match(first, 'Tab focus', 'the keys')

  await tmux('send-keys', '-t', 'chime', 'Tab')
  await tmux('send-keys', '-t', 'chime', '-l', 'hello from the terminal')
  await shows('the typed line', '> hello from the terminal')
  await tmux('send-keys', '-t', 'chime', 'Enter')
  const arrived = await waitFor('the message at the other member', async () => {
    const r = await chime.http<{ data: { messages: MessageJson[] } }>('POST', '/api/requests', { token: bob.token, body: { action: 'LIST_MESSAGES', data: { channel_id: channelId, limit: 5 } } })
    return r.body.data.messages.find((m) => m.content === 'hello from the terminal')
  })
  t.equal(arrived.user_id, ann.user_id, 'typed and Enter: posted as the signed-in user')
  const echoed = await shows('the sent message in the list of messages', `${ann.username}: hello from the terminal`)
  t.match(echoed.trimEnd().split('\n').at(-1) ?? '', /^> *$/, 'the input line is empty again')

  await postAs(chime, bob.token, channelId, 'a reply \x1b[2J\x1b[31mfrom bob')
  const live = await shows('the live reply', 'a reply ^[[2J^[[31mfrom bob')
  t.match(live, new RegExp(`Chime · ${ann.username} · online`), 'the escape sequences did not clear the screen')

  await tmux('resize-window', '-t', 'chime', '-x', '60', '-y', '14')
  const small = await waitFor('a redraw at 60 columns', async () => {
    const s = await screen()
    const lines = s.split('\n').filter((l) => l !== '')
    return lines.length <= 14 && /Tab focus/.test(s) && s.includes('from bob') ? s : undefined
  })
  t.ok(small.split('\n').every((l) => [...l].length <= 60), 'every line fits the new width')

  // Tab back to the list (Esc works too, but Esc followed at once by q reads as Alt-q).
  await tmux('send-keys', '-t', 'chime', 'Tab')
  await tmux('send-keys', '-t', 'chime', 'q')
  const after = await shows('the exit status', 'chime exited with')
  t.match(after, 'chime exited with 0', 'q quits with exit status 0')
  t.notMatch(after, 'Tab focus', 'and the screen is restored')

  // The password prompt of login, on a terminal.
  const login = (window: string): Promise<unknown> =>
    tmux('new-window', '-t', 'chime', '-n', window, '-c', ROOT, `env -i ${env} ${quote(process.execPath)} --import tsx ${MAIN} login ${ann.username}; echo "login exited with $?"; sleep 600`)
  const windowShows = (window: string, text: string): Promise<string> =>
    waitFor(`${window} to show ${text}`, async () => {
      const s = (await tmux('capture-pane', '-p', '-t', `chime:${window}`)).stdout
      return s.includes(text) ? s : undefined
    }, 20_000)
  await login('prompt')
  await windowShows('prompt', 'Password:')
  await tmux('send-keys', '-t', 'chime:prompt', '-l', PASSWORD)
  await tmux('send-keys', '-t', 'chime:prompt', 'Enter')
  const signedIn = await windowShows('prompt', 'login exited with')
  t.match(signedIn, `Signed in as ${ann.username}`, 'the password typed at the prompt signs in')
  t.match(signedIn, 'login exited with 0')
  t.notMatch(signedIn, PASSWORD, 'and was not shown while typed')
  await login('interrupted')
  await windowShows('interrupted', 'Password:')
  await tmux('send-keys', '-t', 'chime:interrupted', '-l', 'half')
  await tmux('send-keys', '-t', 'chime:interrupted', 'C-c')
  t.match(await windowShows('interrupted', 'login exited with'), 'login exited with 130', 'Ctrl-C at the prompt: exit 130')
})
