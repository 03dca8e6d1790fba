// tail <channel>: the channel's last deltas, then every new one as it arrives, until Ctrl-C.
// The ChimeClient hands over each delta once, in seq order, across reconnects (it SYNCs from
// its watermark after every one); lines are printed in that order even when an author's
// name must be looked up first. --json prints one delta per line (NDJSON).
import { ChatError, type DeltaJson } from '../../sdk/src/index.ts'
import type { Ctx } from '../context.ts'
import { badInput, EXIT, exitCodeFor } from '../exit-codes.ts'
import { deltaLines, styleFor } from '../format.ts'
import { LiveConnection } from '../live.ts'
import { Names } from '../names.ts'
import { resolveChannel } from '../resolve.ts'
import type { ListMessagesResponseData } from '../../sdk/src/index.ts'
import { jsonText } from '../terminal-text.ts'
import { intOption, seqOption, stringOption, type Values } from './spec.ts'

/** Users a delta names besides its author (membership changes), to look their names up. */
function usersIn(d: DeltaJson): string[] {
  const ids = [d.user_id]
  if (d.meta?.reply_to !== undefined) ids.push(d.meta.reply_to.user_id)
  if (d.type !== 'message' && d.content !== null && d.content.startsWith('{')) {
    try {
      const c = JSON.parse(d.content) as Record<string, unknown>
      for (const key of ['user_id', 'to', 'from']) if (typeof c[key] === 'string') ids.push(c[key] as string)
      if (Array.isArray(c['user_ids'])) for (const id of c['user_ids']) if (typeof id === 'string') ids.push(id)
    } catch {
      // not JSON
    }
  }
  return ids
}

export async function tail(ctx: Ctx, [channelArg]: string[], values: Values): Promise<number> {
  const lines = intOption(values, 'lines', 0, 10_000) ?? 10
  const from = seqOption(values, 'from')
  if (from !== undefined && values['lines'] !== undefined) throw badInput('tail: give --lines or --from, not both', 'from')
  const mqttUrl = stringOption(values, 'mqtt-url')
  const signed = await ctx.session()
  const chat = await resolveChannel(signed.http, channelArg!)
  const names = new Names(signed.http)
  const st = styleFor(ctx.io.stdout, ctx.io.env)
  const conn = new LiveConnection(signed, ctx.stateDir, mqttUrl !== undefined ? { mqttUrl } : {})

  return new Promise<number>((resolve) => {
    let stopping = false
    let synced = false
    let wasOnline = false
    const seqOfMessage = new Map<string, string>()
    // Printing waits for names; the chain keeps the lines in the order the deltas came.
    let printing: Promise<void> = Promise.resolve()
    const stop = (code: number, error?: ChatError): void => {
      if (stopping) return
      stopping = true
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (error !== undefined) ctx.note(ctx.json ? jsonText({ error: { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) } }) : `chime: ${error.code}: ${error.message}`)
      void printing.then(() => conn.close()).then(() => resolve(code))
    }
    const onSignal = (): void => stop(EXIT.OK)
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)

    conn.on('delta', (d) => {
      if (d.channel_id !== chat.channel_id) return
      if (d.type === 'message') seqOfMessage.set(d.delta_id, d.seq)
      printing = printing.then(async () => {
        if (ctx.json) {
          ctx.print(jsonText(d))
          return
        }
        await names.load(usersIn(d))
        const ref = (id: string | undefined): string => (id === undefined ? 'a message' : seqOfMessage.has(id) ? `#${seqOfMessage.get(id)}` : `message ${id}`)
        for (const line of deltaLines(d, (id) => names.peek(id), ref, st)) ctx.print(line)
      })
    })
    conn.on('synced', ({ channel_id }) => {
      if (channel_id === chat.channel_id) synced = true
    })
    conn.on('status', (s) => {
      if (s === 'online') {
        if (wasOnline) ctx.note('chime: connected again; catching up')
        wasOnline = true
      } else if (s === 'offline' && wasOnline) ctx.note('chime: connection lost; reconnecting…')
    })
    conn.on('error', (err) => {
      // A cursor the server refuses will not get better: say so and stop.
      if (err.code === 'INVALID_CURSOR' || err.code === 'CHANNEL_NOT_FOUND' || err.code === 'NOT_A_MEMBER') stop(exitCodeFor(err), err)
      else ctx.note(`chime: ${err.code}: ${err.message}`)
    })
    conn.on('restore-required', ({ missing }) => {
      if (!synced) {
        const error = new ChatError('INVALID_FIELD', `${missing ?? 'too many'} deltas to print: use \`chime restore\` for a whole history`, { field: 'from' })
        stop(exitCodeFor(error), error)
        return
      }
      // Away longer than SYNC covers: say how much was missed, and go on from the newest.
      void (async () => {
        const page = await conn.current.request<ListMessagesResponseData>('LIST_MESSAGES', { channel_id: chat.channel_id, limit: 1 })
        ctx.note(`chime: ${missing ?? 'many'} deltas were missed while away; continuing from #${page.last_seq} (\`chime restore\` has them all)`)
        await conn.current.resetWatermark(chat.channel_id, page.last_seq)
      })().catch((err: unknown) => {
        const error = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
        stop(exitCodeFor(error), error)
      })
    })
    conn.onFatal = (err) => stop(exitCodeFor(err), err)

    void (async () => {
      await conn.start()
      const last = BigInt(chat.last_seq)
      const start = from !== undefined ? BigInt(from) : last > BigInt(lines) ? last - BigInt(lines) : 0n
      await conn.current.resetWatermark(chat.channel_id, start.toString())
      await conn.watch({ channel_id: chat.channel_id, server_id: chat.server_id })
    })().catch((err: unknown) => {
      const error = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
      stop(exitCodeFor(error), error)
    })
  })
}
