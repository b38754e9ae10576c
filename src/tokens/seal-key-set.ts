import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto'
import { z } from 'zod'
import { ConfigError } from '../config.js'
import { formatIssues } from '../validation.js'
import { createKeyEntry, type KeyEntry, type KeySet, type KeySlot } from './key-set.js'

const FORMAT = 'writ.keyset.v1'
const IV_BYTES = 12
const TAG_BYTES = 16

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected base64url')
const time = z.number().int().nonnegative()

const storedKeySchema = z
  .object({
    slot: z.enum(['next', 'current', 'previous']),
    kid: b64url,
    alg: z.enum(['ES256', 'EdDSA']),
    jwk: z
      .object({ kty: z.enum(['EC', 'OKP']), crv: z.string(), x: b64url, y: b64url.optional() })
      .strict(),
    createdAt: time,
    activatedAt: time.optional(),
    retiredAt: time.optional(),
    /** AES-256-GCM of the PKCS#8 DER private key, AAD = kid; `ct` is ciphertext || tag. */
    sealed: z.object({ iv: b64url, ct: b64url }).strict().optional(),
  })
  .strict()

const storedSetSchema = z
  .object({ format: z.literal(FORMAT), keys: z.array(storedKeySchema).min(1).max(3) })
  .strict()

type StoredKey = z.infer<typeof storedKeySchema>

/** Bytes of randomness; injectable so tests can make IVs predictable or count them. */
export type RandomBytes = (size: number) => Uint8Array

/**
 * Imports a key-encryption key: base64 of exactly 32 bytes (AES-256).
 * Throws a ConfigError naming `keys.kek` otherwise.
 */
export function importKek(kek: string): KeyObject {
  const bytes = Buffer.from(kek, 'base64')
  // Ensure the KEK is a full 256-bit key, not a truncated or mistyped one.
  if (bytes.length !== 32) {
    throw new ConfigError(['keys.kek: must be base64 of exactly 32 bytes'])
  }
  return createSecretKey(bytes)
}

function seal(entry: KeyEntry, kek: KeyObject, random: RandomBytes): StoredKey['sealed'] {
  if (!entry.privateKey) return undefined
  const der = entry.privateKey.export({ format: 'der', type: 'pkcs8' })
  const iv = Buffer.from(random(IV_BYTES))
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES })
  // The kid is the AAD: a ciphertext moved under another key's entry fails to decrypt.
  cipher.setAAD(Buffer.from(entry.kid, 'utf8'))
  const ct = Buffer.concat([cipher.update(der), cipher.final(), cipher.getAuthTag()])
  der.fill(0)
  return { iv: iv.toString('base64url'), ct: ct.toString('base64url') }
}

/**
 * Serializes a key set for the store. Private keys are encrypted with AES-256-GCM under the KEK
 * (a random 12-byte IV per key, the kid as AAD); a retired key keeps no private key at all.
 */
export function sealKeySet(set: KeySet, kek: KeyObject, random: RandomBytes = randomBytes): string {
  const slots: Array<[KeySlot, KeyEntry | undefined]> = [
    ['current', set.current],
    ['next', set.next],
    ['previous', set.previous],
  ]
  const keys: StoredKey[] = []
  for (const [slot, entry] of slots) {
    if (!entry) continue
    const { kty, crv, x, y } = entry.publicJwk
    const stored: StoredKey = {
      slot,
      kid: entry.kid,
      alg: entry.alg,
      jwk: { kty: kty as 'EC' | 'OKP', crv: crv as string, x: x as string, ...(y ? { y } : {}) },
      createdAt: entry.createdAt,
    }
    if (entry.activatedAt !== undefined) stored.activatedAt = entry.activatedAt
    if (entry.retiredAt !== undefined) stored.retiredAt = entry.retiredAt
    const sealed = slot === 'previous' ? undefined : seal(entry, kek, random)
    if (sealed) stored.sealed = sealed
    keys.push(stored)
  }
  return JSON.stringify({ format: FORMAT, keys })
}

function open(stored: StoredKey, kek: KeyObject): KeyObject {
  const sealed = stored.sealed as NonNullable<StoredKey['sealed']>
  const iv = Buffer.from(sealed.iv, 'base64url')
  const ct = Buffer.from(sealed.ct, 'base64url')
  // Ensure the ciphertext is long enough to hold a tag and the IV has the GCM size.
  if (iv.length !== IV_BYTES || ct.length <= TAG_BYTES) {
    throw new Error(`the key set in the store is malformed: key ${stored.kid} has a bad ciphertext`)
  }
  let der: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES })
    // Ensure the ciphertext was made for this kid and under this KEK (GCM tag over AAD + data).
    decipher.setAAD(Buffer.from(stored.kid, 'utf8'))
    decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES))
    der = Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()])
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new ConfigError([
      `keys.kek: cannot decrypt signing key ${stored.kid} from the store (wrong KEK, or the key ` +
        `set was written with another one): ${reason}`,
    ])
  }
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } finally {
    der.fill(0)
  }
}

/**
 * Parses and decrypts a key set written by `sealKeySet`. Keys already in `known` (by kid) are
 * reused as they are, so a refresh only decrypts keys it has not seen. Throws a ConfigError when
 * the KEK does not decrypt a key, and an Error when the data is malformed or inconsistent.
 */
export async function openKeySet(
  data: string,
  kek: KeyObject,
  known: ReadonlyMap<string, KeyEntry> = new Map(),
): Promise<KeySet> {
  let parsed: z.infer<typeof storedSetSchema>
  try {
    const result = storedSetSchema.safeParse(JSON.parse(data))
    if (!result.success) throw new Error(formatIssues(result.error.issues).join('; '))
    parsed = result.data
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new Error(`the key set in the store is malformed: ${reason}`, { cause })
  }

  const slots: Partial<Record<KeySlot, KeyEntry>> = {}
  for (const stored of parsed.keys) {
    // Ensure each slot appears once.
    if (slots[stored.slot]) throw new Error(`the key set in the store has two ${stored.slot} keys`)
    // Ensure keys that sign (or will) carry a private key, and retired ones carry none.
    if (stored.slot !== 'previous' && !stored.sealed) {
      throw new Error(`the key set in the store has no private key for the ${stored.slot} key`)
    }
    const times = {
      createdAt: stored.createdAt,
      ...(stored.activatedAt !== undefined ? { activatedAt: stored.activatedAt } : {}),
      ...(stored.retiredAt !== undefined ? { retiredAt: stored.retiredAt } : {}),
    }
    const cached = known.get(stored.kid)
    if (cached && (cached.privateKey || stored.slot === 'previous')) {
      // A kid names one public key, so the objects imported earlier are this key; no decryption.
      const { kid, alg, publicKey, publicJwk, privateKey } = cached
      const entry: KeyEntry = { kid, alg, publicKey, publicJwk, ...times }
      if (privateKey && stored.slot !== 'previous') entry.privateKey = privateKey
      slots[stored.slot] = entry
      continue
    }
    const keyObject =
      stored.slot === 'previous'
        ? createPublicKey({ key: stored.jwk, format: 'jwk' })
        : open(stored, kek)
    const entry = await createKeyEntry(keyObject, times)
    // Ensure the key is the one its kid names (the kid is the thumbprint of the public key).
    if (entry.kid !== stored.kid || entry.alg !== stored.alg) {
      throw new Error(
        `the key set in the store is inconsistent: key ${stored.kid} does not match its kid or alg`,
      )
    }
    slots[stored.slot] = entry
  }
  if (!slots.current) throw new Error('the key set in the store has no current key')
  const set: KeySet = { current: slots.current }
  if (slots.next) set.next = slots.next
  if (slots.previous) set.previous = slots.previous
  return set
}
