import type { WritError } from '../errors.js'

/**
 * The redirect URI with the authorization response added to its query (RFC 6749 §4.1.2 and
 * §4.1.2.1): `code` or `error` and `error_description`, `state` when the request had one, and
 * `iss` (RFC 9207 §2), so a client talking to several servers can tell whose answer it is.
 * The registered URI is kept exactly as it is; its own query, if any, stays in front.
 */
export function authorizationRedirect(
  redirectUri: string,
  issuer: string,
  state: string | undefined,
  answer: { code: string } | { error: WritError },
): string {
  const params = new URLSearchParams()
  if ('code' in answer) {
    params.set('code', answer.code)
  } else {
    params.set('error', answer.error.expose ? answer.error.code : 'server_error')
    params.set('error_description', answer.error.expose ? answer.error.message : 'the broker failed; try again')
  }
  if (state !== undefined) params.set('state', state)
  params.set('iss', issuer)
  return `${redirectUri}${redirectUri.includes('?') ? '&' : '?'}${params.toString()}`
}
