import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { calculateJwkThumbprint, type JWK } from 'jose'

/** The JWS algorithms writ signs access tokens with. */
export type SigningAlg = 'ES256' | 'EdDSA'

/** Where a key stands in its life: published before it signs, signing, published after. */
export type KeySlot = 'next' | 'current' | 'previous'

/**
 * One signing key as the key manager holds it. Times are seconds since the epoch. `privateKey` is
 * absent for a retired key (and for public-only `next`/`previous` key files).
 */
export interface KeyEntry {
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key. */
  kid: string
  alg: SigningAlg
  publicKey: KeyObject
  privateKey?: KeyObject
  /** The public JWK as published: key members plus `kid`, `alg` and `use: 'sig'`, nothing else. */
  publicJwk: JWK
  createdAt: number
  /** When the key became `current`. */
  activatedAt?: number
  /** When the key stopped signing and became `previous`. */
  retiredAt?: number
}

/** The three slots. `next` is absent only for key files that name none. */
export interface KeySet {
  current: KeyEntry
  next?: KeyEntry
  previous?: KeyEntry
}

/** What `mintAccessToken` needs to sign: an imported private key and its precomputed header. */
export interface SigningKey {
  readonly kid: string
  readonly alg: SigningAlg
  readonly privateKey: KeyObject
  /** base64url of the JWS protected header `{"alg","typ":"at+jwt","kid"}`, computed once. */
  readonly encodedHeader: string
}

/** A key as `list()` reports it, for admin views. Times are seconds since the epoch. */
export interface KeyInfo {
  kid: string
  alg: SigningAlg
  slot: KeySlot
  createdAt: number
  activatedAt?: number
  retiredAt?: number
  /** For `previous`: when it leaves the JWKS (every token it signed has expired by then). */
  publishedUntil?: number
  hasPrivateKey: boolean
}

const generateKeyPairAsync = promisify(generateKeyPair)

/** The JWS algorithm a key can sign with, or a message saying why it cannot be used. */
export function algorithmOf(key: KeyObject): SigningAlg | { unsupported: string } {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return 'ES256'
    return { unsupported: `EC curve ${String(curve)} (only P-256 for ES256)` }
  }
  return { unsupported: `key type ${String(key.asymmetricKeyType)} (only P-256 or Ed25519)` }
}

/** The public JWK members of a key, without any private member. */
function publicMembers(publicKey: KeyObject): JWK {
  const exported = publicKey.export({ format: 'jwk' })
  const members: JWK = { kty: exported.kty, crv: exported.crv, x: exported.x }
  if (exported.y !== undefined) members.y = exported.y
  return members
}

/**
 * Builds a key entry from a key object (private, or public for publish-only keys): derives the
 * algorithm, the RFC 7638 `kid` and the published JWK.
 */
export async function createKeyEntry(
  key: KeyObject,
  times: Pick<KeyEntry, 'createdAt' | 'activatedAt' | 'retiredAt'>,
): Promise<KeyEntry> {
  const alg = algorithmOf(key)
  if (typeof alg !== 'string') throw new Error(`unsupported signing key: ${alg.unsupported}`)
  const privateKey = key.type === 'private' ? key : undefined
  const publicKey = privateKey ? createPublicKey(privateKey) : key
  const members = publicMembers(publicKey)
  const kid = await calculateJwkThumbprint(members, 'sha256')
  const entry: KeyEntry = {
    kid,
    alg,
    publicKey,
    publicJwk: { ...members, kid, alg, use: 'sig' },
    createdAt: times.createdAt,
  }
  if (privateKey) entry.privateKey = privateKey
  if (times.activatedAt !== undefined) entry.activatedAt = times.activatedAt
  if (times.retiredAt !== undefined) entry.retiredAt = times.retiredAt
  return entry
}

/** Generates a fresh key pair for `alg`. */
export async function generateKeyEntry(alg: SigningAlg, createdAt: number): Promise<KeyEntry> {
  const { privateKey } =
    alg === 'EdDSA'
      ? await generateKeyPairAsync('ed25519')
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
  return createKeyEntry(privateKey, { createdAt })
}

/** The signing view of an entry that holds a private key; the header is encoded once, here. */
export function toSigningKey(entry: KeyEntry): SigningKey {
  if (!entry.privateKey) throw new Error(`key ${entry.kid} has no private key and cannot sign`)
  const header = JSON.stringify({ alg: entry.alg, typ: 'at+jwt', kid: entry.kid })
  return Object.freeze({
    kid: entry.kid,
    alg: entry.alg,
    privateKey: entry.privateKey,
    encodedHeader: Buffer.from(header).toString('base64url'),
  })
}

/** A copy of an entry's published JWK, so callers cannot change the manager's state. */
export function publishedJwk(entry: KeyEntry): JWK {
  return { ...entry.publicJwk }
}
