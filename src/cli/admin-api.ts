import { CliError, EXIT } from './cli-error.js'
import type { CliContext } from './context.js'

/**
 * Calls the broker's admin API with the admin token (`WRIT_ADMIN_TOKEN`, stdin or prompt) and
 * returns the JSON body, or throws a CliError with the broker's own explanation.
 */
export async function adminApi<T = unknown>(
  ctx: CliContext,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const base = ctx.brokerUrl()
  const token = await ctx.secret('WRIT_ADMIN_TOKEN', 'admin token')
  let res: Response
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
