import type { Context } from 'hono'
import { invalidRequest, WritError } from '../errors.js'

/** Reads the request body as text; the body-size limit is enforced by middleware before this. */
export async function readText(c: Context): Promise<string> {
  try {
    return await c.req.text()
  } catch (err) {
    if (err instanceof WritError) throw err
    throw invalidRequest('could not read the request body')
  }
}

/** Lower-cased media type without parameters, or '' when absent. */
export function mediaType(c: Context): string {
  const raw = c.req.header('content-type') ?? ''
  return raw.split(';', 1)[0]!.trim().toLowerCase()
}

/**
 * Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2, §4.4.2).
 * Ensure no parameter is repeated: RFC 6749 §3.1 forbids it, and a duplicate could smuggle a
 * second value past a check that read the first one.
 */
export async function readForm(c: Context): Promise<Record<string, string>> {
  const type = mediaType(c)
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest(
      `content-type must be application/x-www-form-urlencoded${type ? ` (got ${type})` : ''}`,
    )
  }
  const params: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [name, value] of new URLSearchParams(await readText(c))) {
    if (Object.hasOwn(params, name)) throw invalidRequest(`${name}: must not be repeated`)
    params[name] = value
  }
  return params
}
