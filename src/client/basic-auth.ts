import { base64url } from 'jose'

/** `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 §2.3.1 asks for Basic. */
const formEncode = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')

/** RFC 4648 §4 base64 of a string's UTF-8 bytes, without Buffer (the client has no node: imports). */
const standardBase64 = (text: string): string => {
  const url = base64url.encode(text)
  return url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(url.length / 4) * 4, '=')
}

/** The `Authorization` header of HTTP Basic client authentication (RFC 6749 §2.3.1). */
export const basicAuthorization = (clientId: string, clientSecret: string): string =>
  `Basic ${standardBase64(`${formEncode(clientId)}:${formEncode(clientSecret)}`)}`
