import type { Context } from 'hono'
import { WritError } from '../errors.js'
import type { Logger } from '../logger.js'

/**
 * Maps any thrown value to an RFC 6749 §5.2 JSON error. A WritError keeps its code and (when it is
 * safe to show) its message; anything else becomes a generic 500 whose details go only to the log,
 * tagged with the request id the caller also receives.
 */
export function errorResponse(c: Context, err: unknown, logger: Logger): Response {
  const requestId = c.get('requestId') as string | undefined
  if (err instanceof WritError) {
    if (err.status >= 500 || err.detail) {
      const log = err.status >= 500 ? logger.warn : logger.debug
      log('request failed', { requestId, code: err.code, status: err.status, detail: err.detail, path: c.req.path })
    }
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' }
    if (err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds)
    if (err.status === 401) {
      // RFC 6749 §5.2: invalid_client answers 401 with a challenge for the scheme clients use.
      headers['WWW-Authenticate'] =
        err.code === 'invalid_client'
          ? 'Basic realm="writ"'
          : `Bearer realm="writ", error="${err.code}", error_description="${err.message.replace(/["\\]/g, '')}"`
    }
    return c.json(
      {
        error: err.code,
        error_description: err.expose ? err.message : `internal error (request id ${requestId ?? 'unknown'})`,
      },
      err.status as 400,
      headers,
    )
  }
  logger.error('unhandled error', {
    requestId,
    path: c.req.path,
    err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err),
  })
  return c.json(
    { error: 'server_error', error_description: `internal error (request id ${requestId ?? 'unknown'})` },
    500,
    { 'Cache-Control': 'no-store' },
  )
}
