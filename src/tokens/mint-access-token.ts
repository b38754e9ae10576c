import { sign } from 'node:crypto'
import {
  type AccessTokenPayloadOptions,
  encodeAccessTokenPayload,
} from './encode-access-token-payload.js'
import type { SigningKey } from './key-set.js'

/**
 * Options of {@link mintAccessToken}: the signing key, and either the claims' options or the
 * payload `encodeAccessTokenPayload` computed from them already.
 */
export type MintAccessTokenOptions = {
  /** From `KeyManager.signingKey()`. */
  key: SigningKey
} & (AccessTokenPayloadOptions | { /** From `encodeAccessTokenPayload()`. */ payload: string })

/**
 * Mints an RFC 9068 JWT access token for a recorded grant: header `{ alg, typ: 'at+jwt', kid }`
 * and the claims of {@link encodeAccessTokenPayload}.
 *
 * Signs with `node:crypto` directly (compact JWS, IEEE P1363 ECDSA signatures): about half the
 * CPU of jose's `SignJWT` per token, and the output verifies with jose's `jwtVerify`.
 */
export async function mintAccessToken(options: MintAccessTokenOptions): Promise<string> {
  const { key } = options
  const payload = 'payload' in options ? options.payload : encodeAccessTokenPayload(options)
  const signingInput = `${key.encodedHeader}.${payload}`
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(signingInput), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${signingInput}.${signature.toString('base64url')}`
}
