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
  return (await readFormWithLists(c, maxBytes, [])).params
}

/** A form's single-valued parameters, and every value of the ones that may repeat. */
export interface FormWithLists {
  params: Record<string, string>
  /** Each repeatable parameter's values in order (absent when not sent). */
  lists: Record<string, string[]>
}

/**
 * {@link readForm}, except that the parameters named in `repeatable` may appear more than once
 * (RFC 8707 §2 lets `resource` repeat); their values are in `lists`, in order, and `params`
 * holds none of them.
 */
export async function readFormWithLists(
  c: Context,
  maxBytes: number,
  repeatable: readonly string[],
): Promise<FormWithLists> {
  const type = mediaType(c)
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest(
      `content-type must be application/x-www-form-urlencoded${type ? ` (got ${type})` : ''}`,
    )
  }
  const params: Record<string, string> = Object.create(null) as Record<string, string>
  const lists: Record<string, string[]> = Object.create(null) as Record<string, string[]>
  for (const [name, value] of new URLSearchParams(await readBody(c, maxBytes))) {
    if (repeatable.includes(name)) {
      ;(lists[name] ??= []).push(value)
      continue
    }
    if (Object.hasOwn(params, name)) throw invalidRequest(`${name}: must not be repeated`)
    params[name] = value
  }
  return { params, lists }
}
