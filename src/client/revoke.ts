import { clientAuthentication } from './client-authentication.js'
import { WritClientError } from './errors.js'
import type { ClientCredentials } from './request-token.js'

export interface RevokeOptions {
  /** The broker's base URL (its issuer), e.g. `https://writ.example.com`. */
  broker: string | URL
  /** The client the token was issued to: a client may revoke only its own tokens. */
  credentials: ClientCredentials
  /** The access token to end. */
  token: string
  signal?: AbortSignal
  /** Injected for tests and custom transports. */
  fetch?: typeof fetch
  /** Injected for tests: milliseconds since the epoch. */
  now?: () => number
}

/**
 * Ends a token the agent no longer needs (RFC 7009 token revocation, `POST /oauth/revoke`), with
 * the client's own credentials: its grant is revoked, so every verifier refuses the token from then
 * on. The broker answers success for a token that is already invalid, expired or revoked (§2.2),
 * and for another client's token, which it leaves alone; so success means "this token, if it was
 * yours, is no longer active".
 *
 * @throws WritClientError `invalid_client` when the credentials are refused, `network_error` when
 *   the broker cannot be reached, or the broker's error code.
 *
 * @example
 * await revoke({
 *   broker: 'http://localhost:8080',
 *   credentials: { clientId: 'demo-agent', clientSecret: process.env.WRIT_CLIENT_SECRET! },
 *   token: result.accessToken,
 * })
 */
export async function revoke(options: RevokeOptions): Promise<void> {
  const base = String(options.broker).replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const auth = await clientAuthentication(base, options.credentials, (options.now ?? Date.now)())
  const body = new URLSearchParams({ token: options.token, token_type_hint: 'access_token', ...auth.params }).toString()
  let res: Response
  try {
    res = await doFetch(`${base}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers },
      body,
      ...(options.signal ? { signal: options.signal } : {}),
    })
  } catch (cause) {
    if (options.signal?.aborted) throw new WritClientError('aborted', 'aborted', undefined, { cause })
    throw new WritClientError('network_error', `cannot reach the broker at ${base}: ${(cause as Error).message}`, undefined, { cause })
  }
  if (res.status === 200) return
  const text = await res.text()
  let error: { error?: unknown; error_description?: unknown } = {}
  try {
    error = JSON.parse(text) as typeof error
  } catch {
    // not JSON: reported by status below
  }
  throw new WritClientError(
    typeof error.error === 'string' ? error.error : 'unexpected_response',
    typeof error.error_description === 'string' ? error.error_description : `HTTP ${res.status}`,
    res.status,
  )
}
