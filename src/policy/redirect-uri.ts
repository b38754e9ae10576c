/**
 * A loopback redirect URI (RFC 8252 §7.3): `http://127.0.0.1` or `http://[::1]`, an optional
 * port, then the rest exactly as written. `localhost` is not one (RFC 8252 §8.3: a name can
 * resolve elsewhere).
 */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?][^#]*)?$/

/** RFC 8252 §7.1 private-use scheme: reverse domain name, so it has a dot (`com.example.app:`). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:/

/**
 * Why `value` cannot be a public client's redirect URI, or undefined when it can: an absolute URI
 * without fragment (RFC 6749 §3.1.2) and without user information, that is `https`, loopback
 * `http` on an IP literal (RFC 8252 §7.3), or a private-use scheme named by a reverse domain
 * (RFC 8252 §7.1). Everything else (`http` to a host name, `javascript:`, `data:`, `file:`) is
 * refused: a code sent there could be read by someone else.
 */
export function redirectUriProblem(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'expected an absolute URI'
  }
  if (value.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)'
  if (url.username !== '' || url.password !== '') return 'must not contain user information'
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:') {
    return LOOPBACK.test(value)
      ? undefined
      : 'http is allowed only on the loopback IP literals 127.0.0.1 and [::1] (RFC 8252 §7.3, §8.3)'
  }
  if (PRIVATE_USE_SCHEME.test(value)) return undefined
  return 'expected https, http on 127.0.0.1 or [::1], or a private-use scheme like com.example.app: (RFC 8252 §7.1)'
}

/**
 * Whether a redirect URI presented in an authorization request is one the client registered:
 * string equality, character for character (no normalization, no prefix match), with one
 * exception RFC 8252 §7.3 requires: for a registered loopback URI the port is not compared, since
 * a native app listens on whatever port the system gives it.
 *
 * @example
 * matchRedirectUri(['http://127.0.0.1/callback'], 'http://127.0.0.1:51734/callback') // true
 * matchRedirectUri(['https://app.example.com/cb'], 'https://app.example.com/cb/') // false
 */
export function matchRedirectUri(registered: readonly string[], presented: string): boolean {
  const loopback = LOOPBACK.exec(presented)
  return registered.some((uri) => {
    if (uri === presented) return true
    if (!loopback) return false
    const mine = LOOPBACK.exec(uri)
    return mine !== null && mine[1] === loopback[1] && (mine[3] ?? '') === (loopback[3] ?? '')
  })
}
