import { SignJWT, type CryptoKey } from 'jose'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** The credentials of a client authenticating with a signed assertion (RFC 7523). */
export interface PrivateKeyCredentials {
  clientId: string
  privateKey: CryptoKey
  keyId?: string
  algorithm?: 'ES256' | 'EdDSA' | 'RS256' | 'PS256'
}

/**
 * The form parameters of RFC 7523 client authentication for a private-key client (a one-minute
 * assertion for the broker's token endpoint, fresh `jti`); none for a client-secret client.
 */
export async function clientAssertion(
  credentials: { clientId: string } | PrivateKeyCredentials,
  base: string,
  nowMs: number,
): Promise<Record<string, string>> {
  if (!('privateKey' in credentials)) return {}
  const iat = Math.floor(nowMs / 1000)
  const jwt = await new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: credentials.algorithm ?? 'ES256', ...(credentials.keyId ? { kid: credentials.keyId } : {}) })
    .setIssuer(credentials.clientId)
    .setSubject(credentials.clientId)
    .setAudience(`${base}/oauth/token`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .sign(credentials.privateKey)
  return { client_id: credentials.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt }
}
