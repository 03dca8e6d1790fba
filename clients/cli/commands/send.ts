// send <channel> [text...]: one POST_MESSAGE over HTTP with a client_msg_id, so repeating
// it after a lost answer never posts twice. --file uploads first (uploadFile, a progress bar
// on a terminal) and attaches; --reply-to takes a message id or "#seq" of the channel.
import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { ChatError } from '../../sdk/src/errors.ts'
import { uploadFile } from '../../sdk/src/files.ts'
import { newClientMsgId } from '../../sdk/src/outbox.ts'
import type { ChimeHttp, PostMessageResponseData } from '../../sdk/src/index.ts'
import type { Ctx } from '../context.ts'
import { badInput, EXIT } from '../exit-codes.ts'
import { bytes } from '../format.ts'
import { progressBar } from '../progress.ts'
import { readStdin } from '../prompt.ts'
import { chatLabel, resolveChannel } from '../resolve.ts'
import type { ListMessagesResponseData } from '../../sdk/src/index.ts'
import { safeText } from '../terminal-text.ts'
import type { Values } from './spec.ts'

const MAX_FILES = 10

/** A message id, or "#seq" looked up in the channel (LIST_MESSAGES just before seq + 1). */
export async function messageIdFor(http: ChimeHttp, channelId: string, ref: string): Promise<string> {
  const bySeq = /^#(\d{1,19})$/.exec(ref)
  if (bySeq === null) {
    if (!/^\d{1,19}$/.test(ref)) throw badInput('--reply-to takes a message id or #seq (as history shows)', 'reply-to')
    return ref
  }
  const seq = BigInt(bySeq[1]!)
  const page = await http.request<ListMessagesResponseData>('LIST_MESSAGES', { channel_id: channelId, before_seq: (seq + 1n).toString(), limit: 1 })
  const m = page.messages.at(-1)
  if (m === undefined || m.seq !== seq.toString()) throw new ChatError('MESSAGE_NOT_FOUND', `no message at #${seq} in this channel`)
  return m.message_id
}

async function readUpload(path: string): Promise<Uint8Array> {
  try {
    if (!(await stat(path)).isFile()) throw badInput(`--file ${path}: not a file`, 'file')
    return new Uint8Array(await readFile(path))
  } catch (err) {
    if (err instanceof ChatError) throw err
    throw badInput(`--file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'file')
  }
}

/** POST_MESSAGE, repeated with the same client_msg_id while Chime cannot be reached (up to 3 tries). */
async function post(http: ChimeHttp, data: Record<string, unknown>): Promise<PostMessageResponseData> {
  let delay = 500
  for (let attempt = 1; ; attempt++) {
    try {
      return await http.request<PostMessageResponseData>('POST_MESSAGE', data)
    } catch (err) {
      if (!(err instanceof ChatError) || (err.code !== 'UNAVAILABLE' && err.code !== 'REQUEST_TIMEOUT') || attempt >= 3) throw err
      await new Promise((r) => setTimeout(r, delay))
      delay *= 2
    }
  }
}

export async function send(ctx: Ctx, [channelArg, ...words]: string[], values: Values): Promise<number> {
  const files = (values['file'] as string[] | undefined) ?? []
  if (files.length > MAX_FILES) throw badInput(`at most ${MAX_FILES} files per message`, 'file')
  let content = words.join(' ')
  if (words.length === 1 && words[0] === '-') content = (await readStdin(ctx.io)).replace(/\n$/, '')
  if (content.trim() === '' && files.length === 0) throw badInput('send: missing [text...] or --file (usage: chime send <channel> [text...] [options])', 'text')
  const uploads = await Promise.all(files.map(async (path) => ({ path, bytes: await readUpload(path) })))

  const { http } = await ctx.session()
  const chat = await resolveChannel(http, channelArg!)
  const replyTo = typeof values['reply-to'] === 'string' ? await messageIdFor(http, chat.channel_id, values['reply-to']) : undefined

  const attachments: { file_id: string }[] = []
  for (const u of uploads) {
    const name = basename(u.path)
    const bar = progressBar(ctx.io.stderr, `uploading ${safeText(name, { singleLine: true })}`)
    try {
      const file = await uploadFile(http, chat.channel_id, u.bytes, name, { onProgress: (p) => bar.update(p.sent, p.total, `${bytes(p.sent)} / ${bytes(p.total)}`) })
      attachments.push({ file_id: file.file_id })
    } finally {
      bar.done()
    }
  }

  const reply = await post(http, {
    channel_id: chat.channel_id,
    client_msg_id: newClientMsgId(),
    ...(content !== '' ? { content } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(replyTo !== undefined ? { reply_to: replyTo } : {}),
  })
  if (ctx.json) ctx.printJson(reply)
  else {
    const extras = attachments.length > 0 ? ` with ${attachments.length} file${attachments.length > 1 ? 's' : ''}` : ''
    ctx.print(`Sent #${reply.seq} to ${safeText(chatLabel(chat), { singleLine: true })}${extras} (message id ${reply.delta_id})`)
  }
  return EXIT.OK
}
