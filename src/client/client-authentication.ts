import { base64url, SignJWT } from 'jose'
import type { ClientCredentials } from './request-token.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')

/** RFC 4648 §4 base64 of a string's UTF-8 bytes, without Buffer (the client has no node: imports). */
const standardBase64 = (text: string): string => {
  const url = base64url.encode(text)
  return url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(url.length / 4) * 4, '=')
}

/** RFC 6749 §2.3.1: `client_secret_basic`, the id and secret form-encoded before base64. */
export function basicAuthorization(credentials: { clientId: string; clientSecret: string }): string {
  return `Basic ${standardBase64(`${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`)}`
}

/**
 * How a request to one of the broker's OAuth endpoints authenticates the client: a Basic header for
 * a secret, or form parameters carrying an RFC 7523 `private_key_jwt` assertion (audience: the
 * broker's token endpoint, one minute of life, a fresh `jti`).
 */
export async function clientAuthentication(
  base: string,
  credentials: ClientCredentials,
  nowMs: number,
): Promise<{ headers: Record<string, string>; params: Record<string, string> }> {
  if ('clientSecret' in credentials) return { headers: { authorization: basicAuthorization(credentials) }, params: {} }
  const iat = Math.floor(nowMs / 1000)
  const jwt = await new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: credentials.algorithm ?? 'ES256', ...(credentials.keyId ? { kid: credentials.keyId } : {}) })
    .setIssuer(credentials.clientId)
    .setSubject(credentials.clientId)
    .setAudience(`${base}/oauth/token`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .sign(credentials.privateKey)
  return {
    headers: {},
    params: { client_id: credentials.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt },
  }
}
