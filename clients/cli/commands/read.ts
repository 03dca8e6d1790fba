// history <channel> (LIST_MESSAGES: messages as they are now, oldest first) and
// search <query...> (SEARCH: newest first). --json prints the answers as they are.
import type { SearchData, SearchResponseData } from '../../sdk/src/index.ts'
import type { Ctx } from '../context.ts'
import { badInput, EXIT } from '../exit-codes.ts'
import { dateTime, messageLines, styleFor } from '../format.ts'
import { Names } from '../names.ts'
import { chatLabel, listAllChats, resolveChannel, resolveServer } from '../resolve.ts'
import type { ListMessagesResponseData } from '../../sdk/src/index.ts'
import { safeText } from '../terminal-text.ts'
import { intOption, seqOption, stringOption, type Values } from './spec.ts'

export async function history(ctx: Ctx, [channelArg]: string[], values: Values): Promise<number> {
  const limit = intOption(values, 'limit', 1, 200) ?? 50
  const before = seqOption(values, 'before')
  const { http } = await ctx.session()
  const chat = await resolveChannel(http, channelArg!)
  const page = await http.request<ListMessagesResponseData>('LIST_MESSAGES', { channel_id: chat.channel_id, limit, ...(before !== undefined ? { before_seq: before } : {}) })
  if (ctx.json) {
    ctx.printJson(page)
    return EXIT.OK
  }
  const names = new Names(http)
  await names.load(page.messages.flatMap((m) => [m.user_id, ...(m.reply_to !== undefined ? [m.reply_to.user_id] : [])]))
  const st = styleFor(ctx.io.stdout, ctx.io.env)
  if (page.messages.length === 0) ctx.print(before === undefined ? 'No messages yet.' : `No messages before #${before}.`)
  for (const m of page.messages) for (const line of messageLines(m, (id) => names.peek(id), st)) ctx.print(line)
  if (page.has_more && page.messages.length > 0) ctx.note(`older: chime history ${channelArg} --before ${page.messages[0]!.seq}`)
  return EXIT.OK
}

export async function search(ctx: Ctx, words: string[], values: Values): Promise<number> {
  const query = words.join(' ')
  if (query.trim() === '') throw badInput('search: the query must have a word', 'query')
  const limit = intOption(values, 'limit', 1, 50)
  const channelArg = stringOption(values, 'channel')
  const serverArg = stringOption(values, 'server')
  if (channelArg !== undefined && serverArg !== undefined) throw badInput('search: give --channel or --server, not both', 'channel')
  const { http } = await ctx.session()
  const data: SearchData = { query }
  if (limit !== undefined) data.limit = limit
  if (channelArg !== undefined) data.channel_id = (await resolveChannel(http, channelArg)).channel_id
  if (serverArg !== undefined) data.server_id = (await resolveServer(http, serverArg)).server_id
  const cursor = stringOption(values, 'cursor')
  if (cursor !== undefined) data.cursor = cursor
  const after = stringOption(values, 'after')
  if (after !== undefined) data.after = after
  const before = stringOption(values, 'before')
  if (before !== undefined) data.before = before
  if (values['has-file'] === true) data.has_file = true
  const answer = await http.request<SearchResponseData>('SEARCH', data)
  if (ctx.json) {
    ctx.printJson(answer)
    return EXIT.OK
  }
  if (answer.results.length === 0) {
    ctx.print('No messages found.')
    return EXIT.OK
  }
  const names = new Names(http)
  await names.load(answer.results.map((r) => r.user_id))
  const labels = new Map((await listAllChats(http)).map((c) => [c.channel_id, chatLabel(c)]))
  const st = styleFor(ctx.io.stdout, ctx.io.env)
  for (const r of answer.results) {
    const where = safeText(labels.get(r.channel_id) ?? r.channel_id, { singleLine: true })
    const text = safeText(r.snippet ?? r.content, { singleLine: true })
    ctx.print(`${st.dim(dateTime(r.timestamp))} ${st.dim(where)} ${st.bold(safeText(names.peek(r.user_id), { singleLine: true }))}: ${text}`)
  }
  if (answer.next_cursor !== null) ctx.note(`more: add --cursor ${answer.next_cursor}`)
  return EXIT.OK
}
