/**
 * Structured JSON-lines logger on pino. Injected everywhere; nothing logs through console
 * directly. Every message and every field passes through the redactor (src/redact-log-fields.ts)
 * before pino serializes it, so no caller can write a token, secret, assertion or KEK to a line.
 */
import { pino } from 'pino'
import { createRedactor } from './redact-log-fields.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** Whether lines of `level` are written; a logger without it may write every level. */
  enabled?(level: Exclude<LogLevel, 'silent'>): boolean
}

export interface LoggerOptions {
  /** Where each line goes (without its newline). Default: stderr, written synchronously. */
  write?: (line: string) => void
  clock?: () => number
  /** Configured secret values to cut out of every line wherever they appear (KEK, passwords). */
  secrets?: readonly string[]
}

/**
 * A logger writing one JSON object per line: `time` (ISO 8601), `level` (name), `msg`, then the
 * fields. `options` may also be the line writer alone (older call sites and tests).
 */
export function createLogger(
  level: LogLevel,
  options: LoggerOptions | ((line: string) => void) = {},
  clock?: () => number,
): Logger {
  const opts: LoggerOptions = typeof options === 'function' ? { write: options, ...(clock ? { clock } : {}) } : options
  const now = opts.clock ?? Date.now
  const redact = createRedactor(opts.secrets ?? [])
  const write = opts.write
  const destination = write
    ? { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ dest: 2, sync: true })
  const base = pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      // Errors arrive redacted as { name, message }: no stack (it repeats the message unredacted).
      serializers: { err: (err: unknown) => err },
      timestamp: () => `,"time":"${new Date(now()).toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
      },
    },
    destination,
  )
  const log =
    (lvl: Exclude<LogLevel, 'silent'>) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (!base.isLevelEnabled(lvl)) return
      const text = redact.text(msg)
      // Ensure every field, however deep, is redacted before pino sees it.
      if (fields) base[lvl](redact.value(fields) as Record<string, unknown>, text)
      else base[lvl](text)
    }
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    enabled: (lvl) => base.isLevelEnabled(lvl),
  }
}

export const silentLogger: Logger = createLogger('silent', () => {})
