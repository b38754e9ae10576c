import { sign } from 'node:crypto'
import type { JWK } from 'jose'
import type { SigningKey } from '../tokens/index.js'

/** JWS `typ` of a checkpoint: never accepted where an access token (`at+jwt`) is expected. */
export const CHECKPOINT_TYP = 'writ-audit-checkpoint+jwt'
/** JWS `typ` of an export seal. */
export const SEAL_TYP = 'writ-audit-seal+jwt'

/** What signs checkpoints and seals: the broker's key manager (its current signing key). */
export interface AuditSigner {
  signingKey(): SigningKey
  /** The published public keys; the signing key's is embedded in each checkpoint. */
  jwks(): { keys: JWK[] }
}

/** A compact JWS over `payload` by the signer's current key, and that key's public JWK. */
export function signAuditJws(
  signer: AuditSigner,
  typ: typeof CHECKPOINT_TYP | typeof SEAL_TYP,
  payload: Record<string, unknown>,
): { jws: string; jwk: JWK } {
  const key = signer.signingKey()
  const jwk = signer.jwks().keys.find((k) => k.kid === key.kid)
  if (!jwk) throw new Error(`the signing key ${key.kid} is not in the published key set`)
  const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString(
    'base64url',
  )
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return { jws: `${input}.${signature.toString('base64url')}`, jwk }
}
