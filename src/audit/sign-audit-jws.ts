import { sign, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'

/** JWS `typ` of a checkpoint: never accepted where an access token (`at+jwt`) is expected. */
export const CHECKPOINT_TYP = 'writ-audit-checkpoint+jwt'
/** JWS `typ` of an export seal. */
export const SEAL_TYP = 'writ-audit-seal+jwt'
/**
 * JWS `typ` of a key rotation's statements in its `key.rotated` event: the new key naming its
 * predecessor (`announcement`) and the old key handing over to the new one (`handover`).
 */
export const KEY_TYP = 'writ-audit-key+jwt'

/** The JWS types audit statements are signed with. */
export type AuditJwsTyp = typeof CHECKPOINT_TYP | typeof SEAL_TYP | typeof KEY_TYP

/** The key an {@link AuditSigner} signs with (the key manager's `SigningKey` is one). */
export interface AuditSigningKey {
  readonly kid: string
  readonly alg: 'ES256' | 'EdDSA'
  readonly privateKey: KeyObject
}

/** What signs checkpoints and seals: the broker's key manager (its current signing key). */
export interface AuditSigner {
  signingKey(): AuditSigningKey
  /** The published public keys; the signing key's is embedded in each checkpoint. */
  jwks(): { keys: JWK[] }
}

/** A compact JWS over `payload` by the signer's current key, and that key's public JWK. */
export function signAuditJws(
  signer: AuditSigner,
  typ: AuditJwsTyp,
  payload: Record<string, unknown>,
): { jws: string; jwk: JWK } {
  const key = signer.signingKey()
  const jwk = signer.jwks().keys.find((k) => k.kid === key.kid)
  if (!jwk) throw new Error(`the signing key ${key.kid} is not in the published key set`)
  return { jws: signJwsWith(key, typ, payload), jwk }
}

/** A compact JWS over `payload` by one given key (a rotation's old or new key). */
export function signJwsWith(key: AuditSigningKey, typ: AuditJwsTyp, payload: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString(
    'base64url',
  )
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}
