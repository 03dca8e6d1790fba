// `chime` / `chime ui`: the full-screen interactive mode. Wires the terminal (alternate
// screen, raw keys through node:readline, resize) and the live connection to the pure
// state (state.ts) and screen (render.ts): every event gives a new state, and the screen is
// drawn again (only the lines that changed) once per tick.
import { emitKeypressEvents } from 'node:readline'
import { ChatError, type Envelope, type MarkerEventData } from '../../sdk/src/index.ts'
import type { ListMessagesResponseData } from '../../sdk/src/index.ts'
import type { Ctx } from '../context.ts'
import { badInput } from '../exit-codes.ts'
import { LiveConnection, type LiveOptions } from '../live.ts'
import { Names } from '../names.ts'
import { listAllChats } from '../resolve.ts'
import { render } from './render.ts'
import {
  channelRead, chatsLoaded, deltaArrived, loadingStarted, handleKey, initialState, markerArrived, namesKnown, noticed, outboxChanged, pageLoaded, statusChanged,
  type Effect, type Key, type UiState,
} from './state.ts'

const PAGE_SIZE = 100
/** Channels followed live from the start (the most recent); others once opened. */
const FOLLOWED_AT_START = 100

export async function runUi(ctx: Ctx, opts: LiveOptions): Promise<number> {
  const { stdin, stdout } = ctx.io
  if (stdin.isTTY !== true || stdout.isTTY !== true) {
    throw badInput('the interactive mode needs a terminal; run `chime help` for the commands that work in scripts', 'terminal')
  }
  const signed = await ctx.session()
  const names = new Names(signed.http)
  const chats = await listAllChats(signed.http)
  const conn = new LiveConnection(signed, ctx.stateDir, opts)
  let state: UiState = initialState({ user_id: signed.session.user_id, username: signed.session.username }, chats)

  // ---- drawing
  let previous: string[] = []
  let scheduled = false
  let drawing = false
  const draw = (): void => {
    scheduled = false
    if (!drawing) return
    const frame = render(state, { columns: stdout.columns ?? 80, rows: stdout.rows ?? 24 })
    let out = '\x1b[?25l'
    frame.lines.forEach((line, i) => {
      if (previous[i] !== line) out += `\x1b[${i + 1};1H${line}\x1b[0m`
    })
    previous = frame.lines
    if (frame.cursor !== null) out += `\x1b[${frame.cursor.row + 1};${frame.cursor.col + 1}H\x1b[?25h`
    stdout.write(out)
  }
  const update = (next: UiState): void => {
    state = next
    if (!scheduled) {
      scheduled = true
      setImmediate(draw)
    }
  }
  const notice = (text: string, error = true): void => update(noticed(state, { text, error }))
  const failed = (what: string) => (err: unknown): void => notice(`${what}: ${err instanceof ChatError ? `${err.code}: ${err.message}` : String(err)}`)

  // ---- names of authors, looked up once each
  const wantName = (userId: string): void => {
    if (state.names[userId] !== undefined) return
    void names.get(userId).then((name) => update(namesKnown(state, { [userId]: name })))
  }

  // ---- reading: the latest page of a channel, and the read marker
  const marked = new Map<string, bigint>()
  const markRead = (channelId: string, seq: string): void => {
    if (BigInt(seq) <= (marked.get(channelId) ?? 0n) || seq === '0') return
    marked.set(channelId, BigInt(seq))
    conn.current.request('MARK_READ', { channel_id: channelId, seq }).catch(() => undefined)
  }
  const open = async (channelId: string): Promise<void> => {
    const chat = state.chats.find((c) => c.channel_id === channelId)
    if (chat !== undefined) await follow(chat.channel_id, chat.server_id, chat.last_seq)
    const page = await conn.current.request<ListMessagesResponseData>('LIST_MESSAGES', { channel_id: channelId, limit: PAGE_SIZE })
    for (const m of page.messages) wantName(m.user_id)
    update(pageLoaded(state, channelId, page.messages, page.last_seq))
    if (channelId === state.selectedId) markRead(channelId, page.last_seq)
  }
  const reloadChats = async (): Promise<void> => {
    const fresh = await listAllChats(signed.http)
    const known = new Set(state.chats.map((c) => c.channel_id))
    update(chatsLoaded(state, fresh))
    for (const c of fresh) if (!known.has(c.channel_id)) await follow(c.channel_id, c.server_id, c.last_seq)
  }
  // Channels followed live (their deltas update the list and the open view): the most
  // recent ones at the start, and any other one once it is opened.
  const followed = new Set<string>()
  const follow = async (channelId: string, serverId: string | null, lastSeq: string): Promise<void> => {
    if (followed.has(channelId)) return
    followed.add(channelId)
    await conn.current.resetWatermark(channelId, lastSeq)
    await conn.watch({ channel_id: channelId, server_id: serverId })
  }

  // ---- what arrives
  conn.on('status', (s) => update(statusChanged(state, s)))
  conn.on('delta', (d) => {
    wantName(d.user_id)
    update(deltaArrived(state, d))
    if (d.channel_id === state.selectedId && d.type === 'message' && state.views[d.channel_id] !== undefined) markRead(d.channel_id, d.seq)
  })
  conn.on('outbox', (items) => update(outboxChanged(state, items)))
  // A confirmed post is shown at once (its live delta, when it comes, changes nothing).
  conn.on('sent', ({ delta }) => update(deltaArrived(state, delta)))
  conn.on('send-failed', ({ error }) => notice(`not sent: ${error.code}: ${error.message}`))
  conn.on('error', (err) => notice(`${err.code}: ${err.message}`))
  conn.on('inbox', (env: Envelope) => {
    if (env.action === 'MARKER') update(markerArrived(state, env.data as unknown as MarkerEventData))
    else if (env.action === 'MEMBERSHIP') reloadChats().catch(failed('the chat list'))
  })
  // Away longer than SYNC covers: show the latest page again and go on from there.
  conn.on('restore-required', ({ channel_id }) => {
    void (async () => {
      const page = await conn.current.request<ListMessagesResponseData>('LIST_MESSAGES', { channel_id, limit: PAGE_SIZE })
      await conn.current.resetWatermark(channel_id, page.last_seq)
      update(pageLoaded(state, channel_id, page.messages, page.last_seq))
    })().catch(failed('catching up'))
  })

  await conn.start()
  await Promise.all(chats.slice(0, FOLLOWED_AT_START).map((c) => follow(c.channel_id, c.server_id, c.last_seq)))

  // ---- the terminal
  return new Promise<number>((resolve) => {
    let done = false
    const quit = (): void => {
      if (done) return
      done = true
      drawing = false
      stdin.off('keypress', onKey)
      stdout.off('resize', onResize)
      process.off('SIGTERM', quit)
      process.off('SIGHUP', quit)
      stdin.setRawMode(false)
      stdin.pause()
      stdout.write('\x1b[0m\x1b[?25h\x1b[?1049l')
      void conn.close().then(() => resolve(0))
    }
    const run = (effect: Effect): void => {
      if (effect.type === 'quit') quit()
      else if (effect.type === 'open') {
        if (state.views[effect.channel_id] === undefined) {
          update(loadingStarted(state, effect.channel_id))
          open(effect.channel_id).catch(failed('loading the channel'))
        } else {
          const chat = state.chats.find((c) => c.channel_id === effect.channel_id)
          if (chat !== undefined) markRead(chat.channel_id, chat.last_seq)
          update(channelRead(state, effect.channel_id))
        }
      } else if (effect.type === 'send') conn.current.send(effect.channel_id, effect.content).catch(failed('sending'))
    }
    const onKey = (sequence: string | undefined, key: Key | undefined): void => {
      const step = handleKey(state, key ?? { sequence })
      update(step.state)
      for (const e of step.effects) run(e)
    }
    const onResize = (): void => {
      previous = []
      stdout.write('\x1b[2J')
      update(state)
    }
    emitKeypressEvents(stdin)
    stdin.setRawMode(true)
    stdin.resume()
    stdin.on('keypress', onKey)
    stdout.on('resize', onResize)
    process.once('SIGTERM', quit)
    process.once('SIGHUP', quit)
    conn.onFatal = (err) => {
      quit()
      ctx.note(`chime: ${err.code}: ${err.message}`)
    }
    stdout.write('\x1b[?1049h\x1b[2J')
    drawing = true
    update(state)
    if (state.selectedId !== null) run({ type: 'open', channel_id: state.selectedId })
  })
}
