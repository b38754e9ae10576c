import { randomBytes } from 'node:crypto'
import { escapeUnsafeText } from '../text/escape-unsafe-text.js'

/**
 * Text for an operator's terminal: every control, invisible or bidi character becomes a visible
 * `\u` escape of four hex digits (so a client id like `x\u001B[1A\u001B[2K` cannot erase or
 * rewrite earlier lines), except the line breaks between lines. JSON text stays valid JSON.
 *
 * @example
 * ```ts
 * terminalText('a\u001b[2Kb\nc') // 'a\\u001B[2Kb\nc'
 * ```
 */
export function terminalText(text: string): string {
  return text.split('\n').map(escapeUnsafeText).join('\n')
}

/**
 * Human output on a TTY (tables, colour unless NO_COLOR), JSON for scripts. Everything written
 * goes through {@link terminalText}; only the colours this output paints reach the terminal as
 * escape sequences.
 */
export interface Output {
  readonly tty: boolean
  readonly json: boolean
  line(text?: string): void
  error(text: string): void
  data(value: unknown): void
  table(headers: string[], rows: string[][]): void
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
}

export function createOutput(options: {
  json: boolean
  stdout?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  stderr?: NodeJS.WritableStream
  env?: Record<string, string | undefined>
}): Output {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const tty = Boolean(stdout.isTTY)
  const colour = tty && !options.env?.NO_COLOR
  // Colours are painted as an unguessable marker, turned into escape sequences only after the
  // text around them was escaped: nothing else can reach the terminal as a sequence.
  const marker = `\uE000${randomBytes(12).toString('hex')}`
  const paint = (code: number) => (text: string) => (colour ? `${marker}${code}m${text}${marker}0m` : text)
  const safe = (text: string): string => terminalText(text).replaceAll(marker, '\x1b[')
  return {
    tty,
    json: options.json,
    line: (text = '') => void stdout.write(safe(text) + '\n'),
    error: (text) => void stderr.write(safe(text) + '\n'),
    data: (value) => void stdout.write(safe(JSON.stringify(value, null, options.json ? 2 : 0)) + '\n'),
    table(headers, rows) {
      // Ensure a cell stays on its line: its line breaks are escaped too.
      const cells = rows.map((row) => row.map(escapeUnsafeText))
      const widths = fitWidths(
        headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length))),
        headers.map((h) => Math.min(h.length, 8)),
        tty ? stdout.columns : undefined,
      )
      const cut = (c: string, w: number) => (c.length > w ? `${c.slice(0, Math.max(0, w - 1))}…` : c.padEnd(w))
      const fmt = (row: string[]) => row.map((c, i) => cut(c, widths[i]!)).join('  ').trimEnd()
      stdout.write(safe(paint(1)(fmt(headers))) + '\n')
      for (const row of cells) stdout.write(safe(fmt(row)) + '\n')
    },
    bold: paint(1),
    dim: paint(2),
    red: paint(31),
    green: paint(32),
  }
}

/**
 * Column widths that fit a terminal `columns` wide (two spaces between columns): the widest column
 * gives way first, one character at a time, down to its `minimum`; cut cells end in `…`. Without
 * a terminal width (output to a pipe or file) nothing is cut.
 */
export function fitWidths(widths: number[], minimum: number[], columns: number | undefined): number[] {
  const out = [...widths]
  if (!columns || columns <= 0) return out
  const total = () => out.reduce((a, b) => a + b, 0) + 2 * Math.max(0, out.length - 1)
  while (total() > columns) {
    let widest = -1
    out.forEach((w, i) => {
      if (w > minimum[i]! && (widest < 0 || w > out[widest]!)) widest = i
    })
    if (widest < 0) break
    out[widest]!--
  }
  return out
}

/** `14m 05s`, `2h 03m`, `expired`. */
export function expiresIn(expSeconds: number, nowMs: number): string {
  const left = Math.round(expSeconds - nowMs / 1000)
  if (left <= 0) return 'expired'
  const h = Math.floor(left / 3600)
  const m = Math.floor((left % 3600) / 60)
  const s = left % 60
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`
}
