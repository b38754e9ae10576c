/** Human output on a TTY (tables, colour unless NO_COLOR), JSON for scripts. */
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
  stdout?: NodeJS.WritableStream & { isTTY?: boolean }
  stderr?: NodeJS.WritableStream
  env?: Record<string, string | undefined>
}): Output {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const tty = Boolean(stdout.isTTY)
  const colour = tty && !options.env?.NO_COLOR
  const paint = (code: number) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)
  return {
    tty,
    json: options.json,
    line: (text = '') => void stdout.write(text + '\n'),
    error: (text) => void stderr.write(text + '\n'),
    data: (value) => void stdout.write(JSON.stringify(value, null, options.json ? 2 : 0) + '\n'),
    table(headers, rows) {
      const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
      const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
      stdout.write(paint(1)(fmt(headers)) + '\n')
      for (const row of rows) stdout.write(fmt(row) + '\n')
    },
    bold: paint(1),
    dim: paint(2),
    red: paint(31),
    green: paint(32),
  }
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
