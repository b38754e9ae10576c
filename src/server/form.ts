import type { Context } from 'hono'
import { invalidRequest } from '../errors.js'
import { readBody } from './body.js'

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
export async function readForm(c: Context, maxBytes: number): Promise<Record<string, string>> {
  const type = mediaType(c)
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest(
      `content-type must be application/x-www-form-urlencoded${type ? ` (got ${type})` : ''}`,
    )
  }
  const params: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [name, value] of new URLSearchParams(await readBody(c, maxBytes))) {
    if (Object.hasOwn(params, name)) throw invalidRequest(`${name}: must not be repeated`)
    params[name] = value
  }
  return params
}
