// Human output: messages, deltas and lists as lines of text. Every piece of user content
// goes through safeText (terminal-text.ts) here, and nowhere is it written unescaped.
import type { AttachmentJson, DeltaJson, MessageJson, QuotedMessageJson } from '../sdk/src/index.ts'
import { safeText, textWidth } from './terminal-text.ts'

/** Bold and dim on terminals; nothing when output is piped or NO_COLOR is set. */
export interface Style {
  bold(s: string): string
  dim(s: string): string
}

export function styleFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Style {
  const on = stream.isTTY === true && (env['NO_COLOR'] === undefined || env['NO_COLOR'] === '')
  return on
    ? { bold: (s) => `\x1b[1m${s}\x1b[22m`, dim: (s) => `\x1b[2m${s}\x1b[22m` }
    : { bold: (s) => s, dim: (s) => s }
}

export const PLAIN: Style = { bold: (s) => s, dim: (s) => s }

const pad2 = (n: number): string => String(n).padStart(2, '0')

/** 2026-11-24 12:00 in local time. */
export function dateTime(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return safeText(iso, { singleLine: true })
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`
}

/** 12:00:05 in local time. */
export function clock(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return safeText(iso, { singleLine: true })
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** Continuation lines of a multi-line text, indented under the first. */
function indentLines(text: string, indent: string): string {
  return text.split('\n').join('\n' + indent)
}

function attachmentLines(list: readonly AttachmentJson[] | undefined, st: Style): string[] {
  return (list ?? []).map((a) => `    ${st.dim('[file]')} ${safeText(a.name, { singleLine: true })} (${safeText(a.mime_type, { singleLine: true })}, ${bytes(a.size)})`)
}

function quoteLine(q: QuotedMessageJson & { original?: string }, name: string, st: Style): string {
  const text = q.content === null || q.original === 'deleted' ? '[deleted]' : safeText(q.content, { singleLine: true })
  const cut = text.length > 80 ? text.slice(0, 79) + '…' : text
  return `    ${st.dim(`reply to ${name}: ${cut}`)}`
}

export type NameOf = (userId: string) => string

/** A message as LIST_MESSAGES answers it: "#seq  date  name: content" and its extras. */
export function messageLines(m: MessageJson, nameOf: NameOf, st: Style = PLAIN): string[] {
  const head = `${st.dim(`#${m.seq}`)} ${st.dim(dateTime(m.timestamp))} ${st.bold(safeText(nameOf(m.user_id), { singleLine: true }))}:`
  const lines: string[] = []
  if (m.deleted === true || m.content === null) lines.push(`${head} ${st.dim('[deleted]')}`)
  else {
    const kind = m.kind === 'text' ? '' : st.dim(`[${m.kind}] `)
    lines.push(`${head} ${kind}${indentLines(safeText(m.content), '    ')}${m.edited_at !== undefined ? st.dim(' (edited)') : ''}`)
  }
  if (m.reply_to !== undefined) lines.push(quoteLine(m.reply_to, nameOf(m.reply_to.user_id), st))
  lines.push(...attachmentLines(m.attachments, st))
  if (m.reactions.length > 0) lines.push('    ' + m.reactions.map((r) => `${safeText(r.emoji, { singleLine: true })} ${r.count}`).join('  '))
  return lines
}

/** What a delta that is not a message says, as a short phrase. */
function systemPhrase(d: DeltaJson, nameOf: NameOf, ref: (id: string | undefined) => string): string {
  let c: Record<string, unknown> = {}
  if (d.content !== null) {
    try {
      const parsed: unknown = JSON.parse(d.content)
      if (typeof parsed === 'object' && parsed !== null) c = parsed as Record<string, unknown>
    } catch {
      // not JSON: shown by type only
    }
  }
  const who = (key: string): string => (typeof c[key] === 'string' ? safeText(nameOf(c[key] as string), { singleLine: true }) : 'someone')
  const text = (key: string): string => (typeof c[key] === 'string' ? safeText(c[key] as string, { singleLine: true }) : '')
  switch (d.type) {
    case 'edit': return `edited ${ref(d.target_id)}: ${indentLines(safeText(d.content ?? ''), '    ')}`
    case 'delete': return `deleted ${ref(d.target_id)}${d.meta?.by === 'moderator' ? ' (as moderator)' : ''}`
    case 'reaction_added': return `reacted ${safeText(d.meta?.emoji ?? '', { singleLine: true })} to ${ref(d.target_id)}`
    case 'reaction_removed': return `took back ${safeText(d.meta?.emoji ?? '', { singleLine: true })} from ${ref(d.target_id)}`
    case 'pinned': return `pinned ${ref(d.target_id)}`
    case 'unpinned': return `unpinned ${ref(d.target_id)}`
    case 'poll_vote': return `voted in the poll ${ref(d.target_id)}`
    case 'poll_retracted': return `took back a vote in the poll ${ref(d.target_id)}`
    case 'poll_closed': return `closed the poll ${ref(d.target_id)}`
    case 'expired': return `${ref(d.target_id)} expired`
    case 'member_joined': return Array.isArray(c['user_ids']) ? `added ${(c['user_ids'] as unknown[]).length} members` : `${who('user_id')} joined`
    case 'member_left': return `${who('user_id')} left`
    case 'member_kicked': return `kicked ${who('user_id')}`
    case 'member_banned': return `banned ${who('user_id')}`
    case 'member_unbanned': return `unbanned ${who('user_id')}`
    case 'member_muted': return c['until'] === null ? `unmuted ${who('user_id')}` : `muted ${who('user_id')}`
    case 'member_role': return `made ${who('user_id')} ${text('role')}`
    case 'owner_transferred': return `handed the server to ${who('to')}`
    case 'channel_created': return `created the channel #${text('name')}`
    case 'channel_updated': return `renamed a channel to #${text('name')}`
    case 'channel_deleted': return 'deleted a channel'
    case 'chat_created': return typeof c['name'] === 'string' ? `created the group ${text('name')}` : 'started the chat'
    case 'chat_updated': return typeof c['name'] === 'string' ? `renamed the group to ${text('name')}` : 'changed the group'
    case 'chat_member_added': return Array.isArray(c['user_ids']) ? `added ${(c['user_ids'] as unknown[]).map((id) => (typeof id === 'string' ? safeText(nameOf(id), { singleLine: true }) : '?')).join(', ')}` : 'added members'
    case 'chat_member_removed': return `removed ${who('user_id')}`
    case 'chat_member_left': return `${who('user_id')} left`
    case 'chat_admin': return `${who('user_id')} is now the admin`
    case 'chat_ended': return 'ended the group'
    default: return d.type.replace(/_/g, ' ')
  }
}

/**
 * A delta as `chime tail` shows it: a message like history does, anything else as a short
 * line. `ref` names the message an update refers to ("#seq" when known).
 */
export function deltaLines(d: DeltaJson, nameOf: NameOf, ref: (messageId: string | undefined) => string, st: Style = PLAIN): string[] {
  const name = st.bold(safeText(nameOf(d.user_id), { singleLine: true }))
  const head = `${st.dim(`#${d.seq}`)} ${st.dim(clock(d.timestamp))}`
  if (d.type !== 'message') return [`${head} ${st.dim('*')} ${name} ${systemPhrase(d, nameOf, ref)}`]
  const kind = d.meta?.kind !== undefined && d.meta.kind !== 'text' ? st.dim(`[${d.meta.kind}] `) : ''
  const lines = [`${head} ${name}: ${kind}${indentLines(safeText(d.content ?? ''), '    ')}`]
  if (d.meta?.reply_to !== undefined) lines.push(quoteLine(d.meta.reply_to, nameOf(d.meta.reply_to.user_id), st))
  lines.push(...attachmentLines(d.attachments, st))
  return lines
}

/** Left-aligned columns for list output (cells must already be safe text). */
export function table(rows: readonly (readonly string[])[], header: readonly string[]): string[] {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => textWidth(r[i] ?? ''))))
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - textWidth(cell)))).join('  ').trimEnd())
}
