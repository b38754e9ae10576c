import type { ManifestInput, TokenResult } from './request-token.js'
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

/** A token response's body as a {@link TokenResult}, or `unexpected_response` without a token. */
export function tokenResult(body: Record<string, unknown>): TokenResult {
  if (typeof body.access_token !== 'string') {
    throw new WritClientError('unexpected_response', 'the token response has no access_token')
  }
  return {
    accessToken: body.access_token,
    tokenType: body.token_type === 'DPoP' ? 'DPoP' : 'Bearer',
    expiresIn: Number(body.expires_in),
    scope: String(body.scope ?? ''),
    authorizationDetails: (body.authorization_details ?? []) as ManifestInput['grants'],
    grantId: String(body.grant_id ?? ''),
  }
}
