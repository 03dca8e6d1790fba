// A progress bar on stderr, drawn only when stderr is a terminal (piped or redirected
// output stays clean), redrawn at most ten times a second, erased when done.

/** One line: "label [#####-----]  45%  detail", fitted to `width` columns. */
export function progressLine(label: string, done: number, total: number, detail: string, width: number): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4)
  const fixed = label.length + percent.length + detail.length + 6
  const barWidth = Math.max(10, Math.min(40, width - fixed))
  const filled = Math.round(ratio * barWidth)
  const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${percent}  ${detail}`
  return line.length > width ? line.slice(0, Math.max(0, width)) : line
}

export interface Progress {
  update(done: number, total: number, detail?: string): void
  /** Erases the bar (the summary, if any, is printed by the caller). */
  done(): void
}

export function progressBar(stream: NodeJS.WriteStream, label: string): Progress {
  if (stream.isTTY !== true) return { update() {}, done() {} }
  let last = 0
  let shown = false
  return {
    update(done, total, detail = '') {
      const now = Date.now()
      if (shown && now - last < 100 && done < total) return
      last = now
      shown = true
      stream.write(`\r${progressLine(label, done, total, detail, (stream.columns ?? 80) - 1)}\x1b[K`)
    },
    done() {
      if (shown) stream.write('\r\x1b[K')
      shown = false
    },
  }
}
