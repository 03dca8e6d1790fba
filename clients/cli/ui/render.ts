// The interactive mode's screen as a pure function of its state and the terminal's size:
// exactly `rows` lines of exactly `columns` columns, and where the cursor goes. Styling is
// plain ANSI SGR; user content passes through safeText before it is measured or shown.
import { chatLabel } from '../resolve.ts'
import { bytes } from '../format.ts'
import { fit, safeText, textWidth, wrap } from '../terminal-text.ts'
import { selectedChat, type UiMessage, type UiState } from './state.ts'

export interface Size {
  columns: number
  rows: number
}

export interface Frame {
  lines: string[]
  /** 0-based; null hides the cursor (the list has the focus). */
  cursor: { row: number; col: number } | null
}

const INVERSE = '\x1b[7m'
const BOLD = '\x1b[1m'
const DIM = '\x1b[2m'
const RED = '\x1b[31m'
const RESET = '\x1b[0m'

export const MIN_COLUMNS = 40
export const MIN_ROWS = 8

const pad2 = (n: number): string => String(n).padStart(2, '0')

function hhmm(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '--:--' : `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
}

/** The left pane's width: a third of the screen, within 16..32 columns. */
export function listWidth(columns: number): number {
  return Math.max(16, Math.min(32, Math.floor(columns / 3)))
}

function badge(n: number, capped: boolean): string {
  return n === 0 ? '' : capped ? `${n}+` : String(n)
}

function listLines(s: UiState, width: number, height: number): string[] {
  const items = s.chats
  const sel = Math.max(0, items.findIndex((c) => c.channel_id === s.selectedId))
  // Keep the selection in view.
  const top = Math.min(Math.max(0, sel - height + 1), Math.max(0, items.length - height))
  const out: string[] = []
  for (let row = 0; row < height; row++) {
    const c = items[top + row]
    if (c === undefined) {
      out.push(row === 0 && items.length === 0 ? fit(' (none yet)', width) : ' '.repeat(width))
      continue
    }
    const count = badge(c.unread, c.unread_capped)
    const countText = count === '' ? '' : ` ${count} `
    const label = fit(' ' + safeText(chatLabel(c), { singleLine: true }), width - textWidth(countText))
    const line = label + countText
    if (c.channel_id === s.selectedId) out.push(INVERSE + (s.focus === 'list' ? BOLD : '') + line + RESET)
    else if (c.unread > 0) out.push(BOLD + line + RESET)
    else out.push(line)
  }
  return out
}

/** A message's lines in the pane: "12:00 name: text", wrapped, continuation lines indented. */
export function messageRows(m: UiMessage, name: string, width: number): string[] {
  const who = safeText(name, { singleLine: true })
  const prefix = `${hhmm(m.timestamp)} ${who}: `
  let body: string
  if (m.deleted) body = '[deleted]'
  else {
    body = (m.kind !== 'text' ? `[${m.kind}] ` : '') + safeText(m.content ?? '') + (m.edited ? ' (edited)' : '')
    for (const f of m.files) body += `\n[file] ${safeText(f.name, { singleLine: true })} (${bytes(f.size)})`
  }
  const wrapped = wrap(prefix + body, width)
  return wrapped.map((l, i) => (i === 0 ? l : fit('  ' + l, width).trimEnd()))
}

function messagePane(s: UiState, width: number, height: number): string[] {
  const chat = selectedChat(s)
  const header = chat === undefined ? '' : safeText(chatLabel(chat), { singleLine: true })
  const out: string[] = [(s.focus === 'input' ? BOLD : '') + fit(' ' + header, width) + RESET]
  const bodyHeight = height - 1
  const rows: string[] = []
  const view = chat === undefined ? undefined : s.views[chat.channel_id]
  if (chat !== undefined && view === undefined) rows.push(DIM + fit(' loading…', width) + RESET)
  for (const m of view?.messages ?? []) for (const r of messageRows(m, s.names[m.user_id] ?? m.user_id.slice(-6), width - 1)) rows.push(' ' + r)
  for (const p of s.pending) {
    if (p.channel_id !== chat?.channel_id) continue
    const state = p.state === 'failed' ? `failed: ${p.error?.code ?? '?'}` : 'sending'
    const text = safeText(typeof p.data['content'] === 'string' ? p.data['content'] : '')
    for (const r of wrap(`${s.me.username}: ${text} (${state})`, width - 1)) rows.push((p.state === 'failed' ? RED : DIM) + ' ' + r + RESET)
  }
  if (chat !== undefined && view !== undefined && rows.length === 0) rows.push(DIM + fit(' no messages yet', width) + RESET)
  // Bottom-anchored: the newest line at the bottom, scrolled up by s.scroll rows at most.
  const maxScroll = Math.max(0, rows.length - bodyHeight)
  const scroll = Math.min(s.scroll, maxScroll)
  const end = rows.length - scroll
  const visible = rows.slice(Math.max(0, end - bodyHeight), end)
  while (visible.length < bodyHeight) visible.unshift('')
  for (const r of visible) out.push(padStyled(r, width))
  return out
}

/** Pads a line that may hold SGR codes to `width` columns (its text is already within width). */
function padStyled(line: string, width: number): string {
  const plain = line.replace(/\x1b\[[0-9;]*m/g, '')
  const w = textWidth(plain)
  return w >= width ? line : line + ' '.repeat(width - w)
}

const HELP = 'Tab focus · ↑↓ channel · Enter send · PgUp/PgDn scroll · q/Ctrl-C quit'

export function render(s: UiState, size: Size): Frame {
  const { columns, rows } = size
  if (columns < MIN_COLUMNS || rows < MIN_ROWS) {
    const lines = Array.from({ length: Math.max(1, rows) }, (_, i) => (i === 0 ? fit(`too small: need ${MIN_COLUMNS}x${MIN_ROWS}`, Math.max(1, columns)) : ' '.repeat(Math.max(0, columns))))
    return { lines, cursor: null }
  }
  const status = s.status === 'online' ? 'online' : s.status === 'connecting' ? 'connecting…' : s.status
  const title = INVERSE + fit(` Chime · ${safeText(s.me.username, { singleLine: true })} · ${status}`, columns) + RESET
  const bodyHeight = rows - 3
  const left = listWidth(columns)
  const right = columns - left - 1
  const list = listLines(s, left, bodyHeight)
  const pane = messagePane(s, right, bodyHeight)
  const lines = [title]
  for (let i = 0; i < bodyHeight; i++) lines.push(padStyled(list[i] ?? '', left) + DIM + '│' + RESET + (pane[i] ?? ' '.repeat(right)))
  const notice = s.notice === null ? DIM + fit(' ' + HELP, columns) + RESET : (s.notice.error ? RED : '') + fit(' ' + safeText(s.notice.text, { singleLine: true }), columns) + RESET
  lines.push(notice)
  // The input line scrolls sideways to keep the cursor in view.
  const prompt = '> '
  const room = columns - prompt.length - 1
  const before = safeText(s.input.slice(0, s.cursor).join(''), { singleLine: true })
  const after = safeText(s.input.slice(s.cursor).join(''), { singleLine: true })
  let shown = before
  while (textWidth(shown) > room) shown = [...shown].slice(1).join('')
  const col = prompt.length + textWidth(shown)
  lines.push((s.focus === 'input' ? '' : DIM) + fit(prompt + shown + after, columns) + RESET)
  return { lines, cursor: s.focus === 'input' ? { row: rows - 1, col } : null }
}
