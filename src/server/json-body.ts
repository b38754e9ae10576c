import type { Context } from 'hono'
import { invalidRequest } from '../errors.js'
import { describeJsonSyntaxError } from '../manifest/describe-json-syntax-error.js'
import { readBody } from './body.js'
import { mediaType } from './form.js'

/**
 * Reads an `application/json` body that must be a JSON object, within the size limit. With
 * `optional`, an empty body stands for `{}`. Anything else is a 400 naming what is wrong.
 */
export async function readJsonObject(
  c: Context,
  maxBytes: number,
  options: { optional?: boolean } = {},
): Promise<Record<string, unknown>> {
  const text = await readBody(c, maxBytes)
  if (options.optional && text.trim() === '') return {}
  const type = mediaType(c)
  if (type !== 'application/json') {
    throw invalidRequest(`content-type must be application/json${type ? ` (got ${type})` : ''}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw invalidRequest(`body is not valid JSON: ${describeJsonSyntaxError(text)}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest('body: expected a JSON object')
  }
  return value as Record<string, unknown>
}
