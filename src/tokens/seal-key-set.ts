import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto'
import { z } from 'zod'
import { ConfigError } from '../config.js'
import { formatIssues } from '../validation.js'
import { createKeyEntry, type KeyEntry, type KeySet, type KeySlot } from './key-set.js'

/** The unauthenticated format written before v2: read once to migrate, never written. */
const LEGACY_FORMAT = 'writ.keyset.v1'
const FORMAT = 'writ.keyset.v2'
const IV_BYTES = 12
const TAG_BYTES = 16
const MAC_BYTES = 32
/** HKDF `info` of the key-set MAC key: a key derived from the KEK for this purpose only. */
const MAC_KEY_INFO = 'writ keyset mac v2'

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

const legacySetSchema = z
  .object({ format: z.literal(LEGACY_FORMAT), keys: z.array(storedKeySchema).min(1).max(3) })
  .strict()

/** The outer document: `body` is the exact JSON text the MAC covers. */
const envelopeSchema = z
  .object({ format: z.literal(FORMAT), body: z.string().min(1), mac: b64url })
  .strict()

const bodySchema = z
  .object({
    issuer: z.string().min(1),
    /** Counts key-set changes: each write is one more than the set it replaces. */
    generation: z.number().int().positive(),
    keys: z.array(storedKeySchema).min(1).max(3),
  })
  .strict()

type StoredKey = z.infer<typeof storedKeySchema>

/**
 * A stored key set that does not authenticate under the KEK: a malformed value, a MAC that does
 * not match, an issuer that is not ours, or a legacy (unauthenticated) set once the authenticated
 * format is in use. Nothing in it is used; the caller keeps the keys it had and raises an alarm.
 */
export class UntrustedKeySetError extends Error {
  override name = 'UntrustedKeySetError'
}

/** A key set read from the store, with what the MAC bound to it. */
export interface OpenedKeySet {
  set: KeySet
  /** The authenticated generation; 0 for a legacy (v1) set. */
  generation: number
  /** True for a legacy v1 set (its `previous` slot left out): write it back as v2 at once. */
  legacy: boolean
}

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

/** The MAC key: HKDF-SHA256 of the KEK for the key-set MAC alone (never used to encrypt). */
function macKey(kek: KeyObject): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), MAC_KEY_INFO, MAC_BYTES))
}

/** HMAC-SHA256 over the format name and the exact body text. */
function macOf(kek: KeyObject, body: string): Buffer {
  return createHmac('sha256', macKey(kek)).update(`${FORMAT}\n`).update(body).digest()
}

/** What the MAC binds besides the keys: whose keys they are and which change of the set. */
export interface KeySetBinding {
  /** The broker's issuer URL: a set sealed for another issuer under the same KEK is refused. */
  issuer: string
  /** One more than the generation of the set this one replaces; 1 for the first. */
  generation: number
}

/**
 * Serializes a key set for the store. Private keys are encrypted with AES-256-GCM under the KEK
 * (a random 12-byte IV per key, the kid as AAD); a retired key keeps no private key at all. The
 * whole set (every slot, public keys, times, ciphertexts), the issuer and the generation are then
 * authenticated with HMAC-SHA256 under a key derived from the KEK, so nobody without the KEK can
 * add, replace, move or drop a key, or pass one issuer's set off as another's.
 */
export function sealKeySet(
  set: KeySet,
  kek: KeyObject,
  binding: KeySetBinding,
  random: RandomBytes = randomBytes,
): string {
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
  const body = JSON.stringify({ issuer: binding.issuer, generation: binding.generation, keys })
  return JSON.stringify({ format: FORMAT, body, mac: macOf(kek, body).toString('base64url') })
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

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new Error(`the key set in the store is malformed: ${what}: ${reason}`, { cause })
  }
  const result = schema.safeParse(value)
  if (!result.success) {
    const reason = formatIssues(result.error.issues).join('; ')
    throw new Error(`the key set in the store is malformed: ${what}: ${reason}`)
  }
  return result.data
}

/** The format a stored key set claims, without trusting anything else in it. */
function formatOf(data: string): unknown {
  try {
    return (JSON.parse(data) as { format?: unknown } | null)?.format
  } catch {
    return undefined
  }
}

/** Builds the key entries of authenticated (or, for legacy sets, AEAD-sealed) stored keys. */
async function entriesOf(
  storedKeys: readonly StoredKey[],
  kek: KeyObject,
  known: ReadonlyMap<string, KeyEntry>,
): Promise<KeySet> {
  const slots: Partial<Record<KeySlot, KeyEntry>> = {}
  for (const stored of storedKeys) {
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

/** Runs `parse`, turning a malformed stored value into an UntrustedKeySetError. */
function untrustedUnless<T>(parse: () => T): T {
  try {
    return parse()
  } catch (cause) {
    throw new UntrustedKeySetError(cause instanceof Error ? cause.message : String(cause), { cause })
  }
}

export interface OpenKeySetOptions {
  /** The issuer the set must be bound to. */
  issuer: string
  /** Keys already imported, by kid: reused as they are, so a refresh only decrypts new keys. */
  known?: ReadonlyMap<string, KeyEntry>
  /**
   * Read a legacy v1 set (only its KEK-sealed `current` and `next`; its unauthenticated
   * `previous` is left out). False once a v2 set was seen: a v1 set then is a downgrade and is
   * refused.
   */
  allowLegacy: boolean
}

/**
 * Parses, authenticates and decrypts a key set written by `sealKeySet`. The MAC is checked before
 * anything in the body is used. Throws an UntrustedKeySetError when the set does not authenticate
 * under the KEK or is bound to another issuer, a ConfigError when the KEK does not decrypt a key of
 * a legacy set, and an Error when the data is malformed or inconsistent.
 */
export async function openKeySet(
  data: string,
  kek: KeyObject,
  options: OpenKeySetOptions,
): Promise<OpenedKeySet> {
  const known = options.known ?? new Map<string, KeyEntry>()
  const format = formatOf(data)
  if (format === LEGACY_FORMAT) {
    // Ensure a legacy set is only read to migrate: afterwards it would be a downgrade.
    if (!options.allowLegacy) {
      throw new UntrustedKeySetError(
        `the key set in the store is in the unauthenticated ${LEGACY_FORMAT} format after ` +
          `${FORMAT} was in use: refused as a downgrade`,
      )
    }
    const legacy = untrustedUnless(() => parseJson(legacySetSchema, data, 'key set'))
    // Ensure only keys the KEK sealed are taken from a legacy set: its previous slot is a plain
    // public key anyone who can write to the store could have put there.
    const sealedKeys = legacy.keys.filter((k) => k.slot !== 'previous')
    return { set: await entriesOf(sealedKeys, kek, new Map()), generation: 0, legacy: true }
  }
  // Ensure anything that is not a well-formed envelope counts as not authenticating (the alarm).
  const envelope = untrustedUnless(() => parseJson(envelopeSchema, data, 'key set'))
  const mac = Buffer.from(envelope.mac, 'base64url')
  const expected = macOf(kek, envelope.body)
  // Ensure the whole set was written by a holder of the KEK before any of it is used.
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new UntrustedKeySetError(
      'the key set in the store does not authenticate under keys.kek: it was written without ' +
        'the KEK (tampered with), or with another KEK',
    )
  }
  const body = parseJson(bodySchema, envelope.body, 'key set body')
  // Ensure the set was sealed for this issuer, not another deployment sharing the KEK.
  if (body.issuer !== options.issuer) {
    throw new UntrustedKeySetError(
      `the key set in the store was sealed for issuer ${JSON.stringify(body.issuer)}, not ` +
        `${JSON.stringify(options.issuer)}`,
    )
  }
  const set = await entriesOf(body.keys, kek, known)
  return { set, generation: body.generation, legacy: false }
}
