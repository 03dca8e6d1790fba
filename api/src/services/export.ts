// Chat history export (seed 004 "send chat history as an email"): a range of a channel's or
// chat's messages as a standard email (.eml: RFC 5322, MIME multipart/alternative with a
// text/plain and an HTML part), sent through the configured SMTP server or downloaded over
// HTTP. Only readers of the channel export it. Deleted and expired messages are shown as
// such, messages that are still to expire are never exported (nothing outlives its timer),
// and attachments are links to the file service.
import MailComposer from 'nodemailer/lib/mail-composer'
import addressparser from 'nodemailer/lib/addressparser'
import { createTransport } from 'nodemailer'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { AttachmentJson, DeltaMetaJson } from '../../../clients/sdk/src/protocol.ts'
import { FixedWindowLimiter } from '../auth/rate-limit.ts'
import { optionalBoolean, requireId, type Data } from '../requests/fields.ts'
import { isGone, toMessageRecord, type MessageRecord } from '../store/messages.ts'
import type { ChannelRecord } from '../store/types.ts'
import type { Caller, Core } from './context.ts'

const HOUR_MS = 3_600_000

/** The link an attachment gets in an export: a GET with the reader's token there redirects to a download link (files/files.ts). */
export function fileLink(base: string, fileId: string): string {
  return `${base.replace(/\/+$/, '')}/api/files/download/?file_id=${encodeURIComponent(fileId)}`
}

/** The path that downloads an export over HTTP. */
export function exportPath(channelId: string, range: { from?: bigint | undefined; to?: bigint | undefined } = {}): string {
  const q = new URLSearchParams()
  if (range.from !== undefined) q.set('from_seq', range.from.toString())
  if (range.to !== undefined) q.set('to_seq', range.to.toString())
  const query = q.toString()
  return `/api/channels/${channelId}/export${query === '' ? '' : `?${query}`}`
}

// ---- input

/** A seq of the range: a positive integer, as a decimal string or a number. */
function optionalSeq(data: Data, name: string): bigint | undefined {
  const v = data[name]
  if (v === undefined) return undefined
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return BigInt(v)
  if (typeof v === 'string' && /^[1-9]\d{0,18}$/.test(v)) return BigInt(v)
  throw new ChatError('INVALID_FIELD', `${name} must be a positive integer (a seq of the channel)`, { field: name })
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/

/** One plain address (no display name, no list): where the export is sent. */
function emailAddress(data: Data): string {
  const v = data['to']
  if (typeof v !== 'string' || v.length > 254 || !EMAIL.test(v)) throw new ChatError('INVALID_FIELD', 'to must be one email address such as name@example.org', { field: 'to' })
  return v
}

export interface ExportRequest {
  channelId: string
  from?: bigint | undefined
  to?: bigint | undefined
}

/** The channel and range of an export request (EXPORT_CHAT data or the download's query). */
export function exportRequest(data: Data, channelId?: string): ExportRequest {
  const id = channelId ?? requireId(data, 'channel_id')
  const from = optionalSeq(data, 'from_seq')
  const to = optionalSeq(data, 'to_seq')
  if (from !== undefined && to !== undefined && from > to) throw new ChatError('INVALID_FIELD', 'from_seq must not be after to_seq', { field: 'from_seq' })
  return { channelId: id, from, to }
}

// ---- access and rate limit

/** A channel the caller may read (the same errors as SYNC), that holds messages. */
async function exportableChannel(core: Core, caller: Caller, channelId: string): Promise<ChannelRecord> {
  const channel = await core.store.directory.readableChannel(caller.userId, channelId)
  if (channel.kind === 'server') throw new ChatError('INVALID_FIELD', "a server's own log holds no messages; export one of its channels", { field: 'channel_id' })
  return channel
}

const limiters = new WeakMap<Core, FixedWindowLimiter>()

/** Counts one export of the caller; RATE_LIMITED (not counted) past CHIME_EXPORT_RATE_PER_HOUR. */
function countExport(core: Core, caller: Caller): void {
  let limiter = limiters.get(core)
  if (limiter === undefined) limiters.set(core, (limiter = new FixedWindowLimiter({ limit: core.config.exportRatePerHour, windowMs: HOUR_MS })))
  const wait = limiter.waitMs(caller.userId)
  if (wait > 0) {
    throw new ChatError('RATE_LIMITED', `at most ${core.config.exportRatePerHour} chat exports per hour`, { retry_after_s: Math.ceil(wait / 1000) })
  }
  limiter.hit(caller.userId)
}

// ---- reading the range

interface Author {
  name: string
  username: string | null
}

export interface ExportEntry {
  message: MessageRecord
  author: Author
  state: 'live' | 'deleted' | 'expired' | 'disappearing'
}

export interface ExportRange {
  channel: ChannelRecord
  title: string
  entries: ExportEntry[]
  authors: Map<string, Author>
  fromSeq: bigint
  toSeq: bigint
  /** The range held more messages than CHIME_EXPORT_MAX_MESSAGES: continue from nextFromSeq. */
  truncated: boolean
  nextFromSeq: bigint | null
}

async function authorsOf(core: Core, ids: readonly string[]): Promise<Map<string, Author>> {
  const users = await core.store.db.prisma.user.findMany({ where: { id: { in: [...new Set(ids)] } }, select: { id: true, username: true, displayName: true, deletedAt: true } })
  return new Map(users.map((u) => [u.id, u.deletedAt === null ? { name: u.displayName, username: u.username } : { name: 'deleted user', username: null }]))
}

/** How the export names the channel: "#general (Server)", the group's name, or "chat with Bob". */
async function titleOf(core: Core, caller: Caller, channel: ChannelRecord): Promise<string> {
  if (channel.serverId !== null) {
    const server = await core.store.db.prisma.server.findUnique({ where: { id: channel.serverId }, select: { name: true } })
    return `#${channel.name}${server === null ? '' : ` (${server.name})`}`
  }
  if (channel.kind === 'group') return channel.name
  const others = await core.store.db.prisma.chatMember.findMany({ where: { channelId: channel.id, userId: { not: caller.userId } }, select: { userId: true } })
  const names = [...(await authorsOf(core, others.map((o) => o.userId))).values()].map((a) => a.name)
  return `chat with ${names.join(', ') || 'nobody'}`
}

export async function readRange(core: Core, caller: Caller, req: ExportRequest, now = new Date()): Promise<ExportRange> {
  const channel = await exportableChannel(core, caller, req.channelId)
  const lastSeq = await core.store.log.channelLastSeq(channel.id)
  const fromSeq = req.from ?? 1n
  const toSeq = req.to === undefined || req.to > lastSeq ? lastSeq : req.to
  const max = core.config.exportMaxMessages
  const rows = fromSeq > toSeq ? [] : await core.store.db.prisma.message.findMany({ where: { channelId: channel.id, seq: { gte: fromSeq, lte: toSeq } }, orderBy: { seq: 'asc' }, take: max + 1 })
  const truncated = rows.length > max
  const kept = rows.slice(0, max).map(toMessageRecord)
  const authors = await authorsOf(core, kept.flatMap((m) => [m.userId, ...(m.meta.reply_to ? [m.meta.reply_to.user_id] : []), ...(m.meta.forwarded_from ? [m.meta.forwarded_from.user_id] : [])]))
  const entries = kept.map((m): ExportEntry => ({
    message: m,
    author: authors.get(m.userId) ?? { name: 'unknown user', username: null },
    state: m.isDeleted ? 'deleted' : isGone(m, now.getTime()) ? 'expired' : m.expiresAt !== null ? 'disappearing' : 'live',
  }))
  const coveredTo = truncated ? kept.at(-1)!.seq : toSeq
  return { channel, title: await titleOf(core, caller, channel), entries, authors, fromSeq, toSeq: coveredTo < fromSeq ? fromSeq : coveredTo, truncated, nextFromSeq: truncated ? coveredTo + 1n : null }
}

// ---- rendering

const when = (d: Date): string => `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`

function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}

/** Escapes user content for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const nameOf = (a: Author): string => (a.username === null ? a.name : `${a.name} (@${a.username})`)

/** What stands in for the content of a message that is not shown. */
const GONE_TEXT: Record<Exclude<ExportEntry['state'], 'live'>, string> = {
  deleted: '(message deleted)',
  expired: '(message expired)',
  disappearing: '(disappearing message: not exported)',
}

/** The lines describing a live message besides its text: reply, forward, card, poll. */
function contextLines(m: MessageRecord, authors: Map<string, Author>): string[] {
  const meta: DeltaMetaJson = m.meta
  const out: string[] = []
  if (meta.reply_to !== undefined) {
    const who = authors.get(meta.reply_to.user_id)?.name ?? 'unknown user'
    out.push(`in reply to ${who}${meta.reply_to.content === null ? '' : `: "${meta.reply_to.content}"`}`)
  }
  if (meta.forwarded_from !== undefined) out.push(`forwarded from ${authors.get(meta.forwarded_from.user_id)?.name ?? 'unknown user'} (${when(new Date(meta.forwarded_from.timestamp))})`)
  if (meta.card !== undefined) out.push(`contact card: ${meta.card.display_name} (@${meta.card.username})`)
  if (meta.poll !== undefined) out.push(`poll${meta.poll.multiple ? ' (several answers)' : ''}: ${meta.poll.options.map((o, i) => `${i + 1}. ${o}`).join('  ')}`)
  return out
}

function attachmentText(a: AttachmentJson, base: string): string {
  return `${a.name} (${a.mime_type}, ${sizeOf(a.size)}): ${fileLink(base, a.file_id)}`
}

function headerLine(range: ExportRange, exportedAt: Date): string {
  const count = `${range.entries.length} message${range.entries.length === 1 ? '' : 's'}`
  return `${count}, seq ${range.fromSeq} to ${range.toSeq}, exported ${when(exportedAt)}`
}

function continueLine(range: ExportRange): string | null {
  return range.truncated ? `The range holds more messages than one export does; export again with from_seq ${range.nextFromSeq} for the rest.` : null
}

export function renderText(range: ExportRange, base: string, exportedAt: Date): string {
  const lines = [`Chat history: ${range.title}`, headerLine(range, exportedAt), '']
  for (const { message: m, author, state } of range.entries) {
    const edited = state === 'live' && m.isEdited ? ' (edited)' : ''
    lines.push(`[${when(m.createdAt)}] ${nameOf(author)}${edited}:`)
    if (state !== 'live') {
      lines.push(`  ${GONE_TEXT[state]}`, '')
      continue
    }
    for (const c of contextLines(m, range.authors)) lines.push(`  [${c}]`)
    for (const l of (m.content ?? '').split(/\r?\n/)) if (m.content) lines.push(`  ${l}`)
    for (const a of m.attachments ?? []) lines.push(`  [attachment] ${attachmentText(a, base)}`)
    lines.push('')
  }
  const more = continueLine(range)
  if (more !== null) lines.push(more)
  return lines.join('\n')
}

export function renderHtml(range: ExportRange, base: string, exportedAt: Date): string {
  const e = escapeHtml
  const parts = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8">',
    `<title>Chat history: ${e(range.title)}</title>`,
    '</head><body style="font-family: sans-serif">',
    `<h1>Chat history: ${e(range.title)}</h1>`,
    `<p>${e(headerLine(range, exportedAt))}</p>`,
  ]
  for (const { message: m, author, state } of range.entries) {
    parts.push(`<div class="message" id="m${m.id}" style="margin: 0 0 1em 0">`)
    const edited = state === 'live' && m.isEdited ? ' <em>(edited)</em>' : ''
    const who = author.username === null ? `<strong>${e(author.name)}</strong>` : `<strong>${e(author.name)}</strong> (@${e(author.username)})`
    parts.push(`<div class="meta">${who} <time datetime="${m.createdAt.toISOString()}">${e(when(m.createdAt))}</time>${edited}</div>`)
    if (state !== 'live') {
      parts.push(`<div class="gone"><em>${e(GONE_TEXT[state])}</em></div></div>`)
      continue
    }
    for (const c of contextLines(m, range.authors)) parts.push(`<div class="context"><em>${e(c)}</em></div>`)
    if (m.content) parts.push(`<div class="content">${e(m.content).replace(/\r?\n/g, '<br>')}</div>`)
    const files = m.attachments ?? []
    if (files.length > 0) {
      parts.push('<ul class="attachments">')
      for (const a of files) parts.push(`<li><a href="${e(fileLink(base, a.file_id))}">${e(a.name)}</a> (${e(a.mime_type)}, ${sizeOf(a.size)})</li>`)
      parts.push('</ul>')
    }
    parts.push('</div>')
  }
  const more = continueLine(range)
  if (more !== null) parts.push(`<p>${e(more)}</p>`)
  parts.push('</body></html>')
  return parts.join('\n')
}

/** The export as an RFC 5322 message, built by nodemailer's MailComposer. */
export async function buildEml(core: Core, range: ExportRange, opts: { to?: string; now?: Date } = {}): Promise<Buffer> {
  const now = opts.now ?? new Date()
  const base = core.config.publicUrl
  const mail = new MailComposer({
    from: core.config.smtpFrom,
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    subject: `Chat history: ${range.title}`.replace(/[\r\n]+/g, ' '),
    date: now,
    text: renderText(range, base, now),
    html: renderHtml(range, base, now),
    headers: {
      'X-Chime-Channel-Id': range.channel.id,
      'X-Chime-From-Seq': range.fromSeq.toString(),
      'X-Chime-To-Seq': range.toSeq.toString(),
      ...(range.truncated ? { 'X-Chime-Next-From-Seq': range.nextFromSeq!.toString() } : {}),
    },
  })
  return mail.compile().build()
}

// ---- the actions

export interface ExportSummary {
  channel_id: string
  from_seq: string
  to_seq: string
  messages: number
  truncated: boolean
  next_from_seq: string | null
}

function summaryOf(range: ExportRange): ExportSummary {
  return {
    channel_id: range.channel.id,
    from_seq: range.fromSeq.toString(),
    to_seq: range.toSeq.toString(),
    messages: range.entries.length,
    truncated: range.truncated,
    next_from_seq: range.nextFromSeq?.toString() ?? null,
  }
}

/** The download (GET /api/channels/{channelId}/export): the .eml and its file name. */
export async function doExportDownload(core: Core, caller: Caller, req: ExportRequest): Promise<{ eml: Buffer; filename: string; summary: ExportSummary }> {
  await exportableChannel(core, caller, req.channelId)
  countExport(core, caller)
  const range = await readRange(core, caller, req)
  const eml = await buildEml(core, range)
  return { eml, filename: `chat-${range.channel.id}-${range.fromSeq}-${range.toSeq}.eml`, summary: summaryOf(range) }
}

/** The SMTP envelope sender: the address of CHIME_SMTP_FROM. */
function envelopeFrom(from: string): string {
  for (const a of addressparser(from, { flatten: true })) if ('address' in a && a.address) return a.address
  throw new ChatError('EMAIL_NOT_CONFIGURED', 'CHIME_SMTP_FROM holds no email address')
}

/** The Message-ID header of a built export. */
function messageIdOf(eml: Buffer): string | null {
  const head = eml.subarray(0, Math.min(eml.length, 16_384)).toString('utf8').split(/\r?\n\r?\n/)[0] ?? ''
  return /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(head)?.[1] ?? null
}

export type ExportChatResponse =
  | { channel_id: string; email: false; download: string }
  | (ExportSummary & { email: true; sent_to: string; email_message_id: string | null })

/**
 * EXPORT_CHAT {channel_id, from_seq?, to_seq?, email, to?}: with email true the export is
 * mailed to `to` through CHIME_SMTP_URL; with email false the answer names the download
 * (which builds the export and counts against the rate limit when fetched).
 */
export async function doExportChat(core: Core, caller: Caller, data: Data): Promise<ExportChatResponse> {
  const req = exportRequest(data)
  const email = optionalBoolean(data, 'email') ?? false
  if (!email) {
    if (data['to'] !== undefined) throw new ChatError('INVALID_FIELD', 'to goes with email: true', { field: 'to' })
    await exportableChannel(core, caller, req.channelId)
    return { channel_id: req.channelId, email: false, download: exportPath(req.channelId, req) }
  }
  const to = emailAddress(data)
  if (core.config.smtpUrl === '') throw new ChatError('EMAIL_NOT_CONFIGURED')
  const from = envelopeFrom(core.config.smtpFrom)
  await exportableChannel(core, caller, req.channelId)
  countExport(core, caller)
  const range = await readRange(core, caller, req)
  const eml = await buildEml(core, range, { to })
  const transport = createTransport({ url: core.config.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 })
  try {
    await transport.sendMail({ envelope: { from, to: [to] }, raw: eml })
  } catch (err) {
    throw new ChatError('UNAVAILABLE', `the SMTP server did not take the email: ${(err as Error).message}`.slice(0, 300))
  } finally {
    transport.close()
  }
  return { ...summaryOf(range), email: true, sent_to: to, email_message_id: messageIdOf(eml) }
}
