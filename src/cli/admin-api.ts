import { CliError, EXIT } from './cli-error.js'
import type { CliContext } from './context.js'

/** Retries of a call the broker answered 503 (busy, or its store unreachable) before giving up. */
const MAX_RETRIES = 3
/** Wait before the first retry when the broker names none; doubles each time. */
const FIRST_BACKOFF_MS = 500
/** Longest wait between two attempts, whatever `Retry-After` asks for. */
const MAX_WAIT_MS = 10_000

/** How long to wait before retry number `retry` (0-based): `Retry-After` if given, else backoff. */
function retryDelayMs(retryAfter: string | null, retry: number): number {
  const backoff = FIRST_BACKOFF_MS * 2 ** retry
  if (retryAfter === null || retryAfter.trim() === '') return Math.min(backoff, MAX_WAIT_MS)
  const seconds = /^\d+$/.test(retryAfter.trim())
    ? Number(retryAfter.trim())
    : (Date.parse(retryAfter) - Date.now()) / 1000
  if (!Number.isFinite(seconds)) return Math.min(backoff, MAX_WAIT_MS)
  return Math.min(Math.max(0, seconds * 1000), MAX_WAIT_MS)
}

/**
 * Calls the broker's admin API with the admin token (`WRIT_ADMIN_TOKEN`, stdin or prompt) and
 * returns the JSON body, or throws a CliError with the broker's own explanation. A `503` (the
 * broker busy checking admin tokens, or its store unreachable) is retried up to three times,
 * after the `Retry-After` the broker names (at most 10 s) or a doubling backoff from 0.5 s, for
 * calls that can safely be made twice: `GET`, `DELETE`, and a `POST` the caller marks
 * `idempotent` (a revocation, disabling a key). Any other `POST` (a rotation, an invite, a lock)
 * is never repeated: a 503 may come after the store took the change.
 */
export async function adminApi<T = unknown>(
  ctx: CliContext,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  options: { idempotent?: boolean } = {},
): Promise<T> {
  const retries = method !== 'POST' || options.idempotent === true ? MAX_RETRIES : 0
  const base = ctx.brokerUrl()
  const token = await ctx.secret('WRIT_ADMIN_TOKEN', 'admin token')
  let res: Response
  for (let retry = 0; ; retry++) {
    try {
      res = await ctx.fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (err) {
      throw new CliError(`cannot reach the broker at ${base}: ${(err as Error).cause ? String((err as { cause: Error }).cause.message) : (err as Error).message}`)
    }
    if (res.status !== 503 || retry >= retries) break
    const waitMs = retryDelayMs(res.headers.get('retry-after'), retry)
    await res.body?.cancel()
    ctx.out.error(`the broker is busy (503); retrying in ${(waitMs / 1000).toFixed(1)} s`)
    await new Promise((resolve) => setTimeout(resolve, waitMs))
  }
  const text = await res.text()
  let json: unknown
  try {
    json = text ? JSON.parse(text) : {}
  } catch {
    throw new CliError(`the broker answered ${res.status} with a non-JSON body: is ${base} a writ broker?`)
  }
  if (res.ok) return json as T
  const err = json as { error?: string; error_description?: string }
  const reason = err.error_description ?? err.error ?? `HTTP ${res.status}`
  if (res.status === 401) throw new CliError(`the broker refused the admin token (${reason}); check WRIT_ADMIN_TOKEN`)
  if (res.status === 404 && err.error === 'not_found') throw new CliError(reason)
  throw new CliError(reason, res.status === 400 ? EXIT.usage : EXIT.error)
}
