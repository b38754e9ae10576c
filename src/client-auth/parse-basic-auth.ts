const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** application/x-www-form-urlencoded decoding of one value: `+` is a space, then %XX escapes. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

/**
 * Parses an RFC 6749 §2.3.1 `Authorization: Basic` header: base64 of
 * `urlencode(client_id) ":" urlencode(client_secret)`. Returns undefined when the header is not
 * well-formed Basic credentials (wrong scheme, bad base64 or UTF-8, no colon, bad escapes, empty
 * client id).
 */
export function parseBasicAuth(header: string): { clientId: string; secret: string } | undefined {
  const encoded = BASIC.exec(header)?.[1]
  if (encoded === undefined) return undefined
  const bytes = Buffer.from(encoded, 'base64')
  // Ensure the base64 is canonical, not something Buffer.from silently repaired.
  if (bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) return undefined
  let decoded: string
  try {
    decoded = utf8.decode(bytes)
  } catch {
    return undefined
  }
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  try {
    const clientId = formDecode(decoded.slice(0, colon))
    const secret = formDecode(decoded.slice(colon + 1))
    if (clientId === '') return undefined
    return { clientId, secret }
  } catch {
    return undefined
  }
}
