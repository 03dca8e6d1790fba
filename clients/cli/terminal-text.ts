// Text from other people (messages, names, previews) is printed, never obeyed: every
// character a terminal could act on is shown as a visible escape instead, so a message cannot
// clear the screen, move the cursor, set the window title, ring the bell or reorder what is
// shown around it. Also: display widths, for the interactive mode's layout.

/** How a control character is shown: ^[ for ESC, ^? for DEL, <U+009B> for C1 and bidi controls. */
function visible(ch: string): string {
  const cp = ch.codePointAt(0)!
  if (cp < 0x20) return '^' + String.fromCharCode(cp + 0x40)
  if (cp === 0x7f) return '^?'
  return `<U+${cp.toString(16).toUpperCase().padStart(4, '0')}>`
}

// C0 controls but tab and newline, DEL, C1 controls, bidi controls.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * Makes user content safe to write to a terminal. Newlines stay (unless `singleLine`, where
 * they become " ↵ "); tabs become spaces; every other control character is shown escaped.
 */
export function safeText(text: string, opts: { singleLine?: boolean } = {}): string {
  let out = text.replace(UNSAFE, visible).replace(/\t/g, '    ')
  if (opts.singleLine === true) out = out.replace(/\r?\n/g, ' ↵ ')
  return out
}

/**
 * JSON for scripts: JSON.stringify escapes C0 controls; this also escapes DEL, C1 and bidi
 * controls and the line separators, so even JSON output piped to a terminal is inert. The
 * text parses back to the same value.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

// ---- display width

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u200b\ufe00-\ufe0f]$/u
const WIDE = /^[\p{Extended_Pictographic}]$/u

/** Columns one code point takes in a terminal (0, 1 or 2); an approximation of wcwidth. */
export function charWidth(ch: string): number {
  const cp = ch.codePointAt(0)!
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0
  if (cp < 0x300) return 1
  if (ZERO_WIDTH.test(ch)) return 0
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) || (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2
  if (cp >= 0x1f000 && WIDE.test(ch)) return 2
  return 1
}

/** Columns a (safe, single-line) string takes. */
export function textWidth(text: string): number {
  let w = 0
  for (const ch of text) w += charWidth(ch)
  return w
}

/** Cuts a string to at most `width` columns (with … when cut) and pads it to exactly `width`. */
export function fit(text: string, width: number): string {
  if (width <= 0) return ''
  let w = textWidth(text)
  if (w <= width) return text + ' '.repeat(width - w)
  let out = ''
  w = 0
  for (const ch of text) {
    const cw = charWidth(ch)
    if (w + cw > width - 1) break
    out += ch
    w += cw
  }
  return out + '…' + ' '.repeat(Math.max(0, width - w - 1))
}

/** Breaks a (safe) text into lines of at most `width` columns: at newlines, then at spaces when it can. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  const w = Math.max(1, width)
  for (const paragraph of text.split('\n')) {
    let line = ''
    let lineWidth = 0
    for (const word of paragraph.split(/(?<= )/)) {
      const ww = textWidth(word)
      if (lineWidth + ww <= w) {
        line += word
        lineWidth += ww
        continue
      }
      if (line !== '' && ww <= w) {
        lines.push(line.trimEnd())
        line = word
        lineWidth = ww
        continue
      }
      // A word longer than the line: cut it by columns.
      for (const ch of word) {
        const cw = charWidth(ch)
        if (lineWidth + cw > w) {
          lines.push(line.trimEnd())
          line = ''
          lineWidth = 0
        }
        line += ch
        lineWidth += cw
      }
    }
    lines.push(line.trimEnd())
  }
  return lines
}

/** Removes ANSI escape sequences (for tests and width checks of styled lines). */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
}
