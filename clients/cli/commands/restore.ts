// restore <channel>: the whole history as NDJSON, one delta per line in seq order (see
// ../restore.ts), to stdout or --out. A file is written under a temporary name and renamed
// when complete, so a file by the asked name is always a whole, checked history.
import { createWriteStream, type WriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import type { Ctx } from '../context.ts'
import { badInput, EXIT } from '../exit-codes.ts'
import { bytes } from '../format.ts'
import { progressBar } from '../progress.ts'
import { chatLabel, resolveChannel } from '../resolve.ts'
import { restoreHistory } from '../restore.ts'
import { jsonText, safeText } from '../terminal-text.ts'
import { seqOption, stringOption, type Values } from './spec.ts'

function writer(stream: NodeJS.WritableStream): (line: string) => Promise<void> {
  return (line) =>
    new Promise<void>((resolve, reject) => {
      if (stream.write(line)) resolve()
      else {
        stream.once('drain', resolve)
        stream.once('error', reject)
      }
    })
}

async function openOut(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path, { flags: 'w', mode: 0o600 })
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve())
    stream.once('error', (err) => reject(badInput(`--out ${path}: ${err.message}`, 'out')))
  })
  return stream
}

export async function restore(ctx: Ctx, [channelArg]: string[], values: Values): Promise<number> {
  const out = stringOption(values, 'out')
  const after = seqOption(values, 'after')
  const { http } = await ctx.session()
  const chat = await resolveChannel(http, channelArg!)
  const temp = out !== undefined ? `${out}.partial` : undefined
  const file = temp !== undefined ? await openOut(temp) : undefined
  const write = writer(file ?? ctx.io.stdout)
  const bar = progressBar(ctx.io.stderr, `restoring ${safeText(chatLabel(chat), { singleLine: true })}`)
  let result
  try {
    result = await restoreHistory(http, chat.channel_id, (d) => write(jsonText(d) + '\n'), {
      ...(after !== undefined ? { afterSeq: after } : {}),
      onProgress: (p) => bar.update(p.seq, p.lastSeq, `#${p.seq} / ${p.lastSeq}${p.partitions > 0 ? `, ${p.partitions} archives (${bytes(p.downloadedBytes)})` : ''}`),
    })
  } catch (err) {
    bar.done()
    if (file !== undefined) {
      file.destroy()
      await rm(temp!, { force: true })
    }
    throw err
  }
  bar.done()
  if (file !== undefined) {
    await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())))
    await rename(temp!, out!)
  }
  const summary = { channel_id: chat.channel_id, deltas: result.deltas, last_seq: result.lastSeq, partitions: result.partitions, ...(out !== undefined ? { out } : {}) }
  if (out !== undefined) {
    if (ctx.json) ctx.printJson(summary)
    else ctx.print(`Restored ${result.deltas} deltas of ${safeText(chatLabel(chat), { singleLine: true })} (to #${result.lastSeq}; ${result.partitions} from archives) into ${out}`)
  } else if (ctx.io.stderr.isTTY === true) ctx.note(`restored ${result.deltas} deltas (to #${result.lastSeq}; ${result.partitions} from archives)`)
  return EXIT.OK
}
