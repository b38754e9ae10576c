import { WritClientError } from './errors.js'

/** A broker response's JSON object body; anything else is `unexpected_response`. */
export async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text()
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // fall through
  }
  throw new WritClientError('unexpected_response', `the broker answered ${res.status} with a non-JSON body`, res.status)
}

/** The broker's RFC 6749 error response as a {@link WritClientError}. */
export function errorFrom(res: Response, body: Record<string, unknown>): WritClientError {
  const code = typeof body.error === 'string' ? body.error : 'unexpected_response'
  const description = typeof body.error_description === 'string' ? body.error_description : `HTTP ${res.status}`
  return new WritClientError(code, description, res.status)
}
