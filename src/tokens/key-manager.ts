import { randomBytes } from 'node:crypto'
import { readFile as fsReadFile } from 'node:fs/promises'
import type { JWK } from 'jose'
import { type Clock, epochSeconds } from '../clock.js'
import { ConfigError } from '../config.js'
import { WritError } from '../errors.js'
import { keySetMessage } from '../wire/revocation-message.js'
import type { KeySetStore, StoredKeySet } from './key-set-store.js'
import {
  createKeyEntry,
  generateKeyEntry,
  publishedJwk,
  toSigningKey,
  type KeyEntry,
  type KeyInfo,
  type KeySet,
  type KeySlot,
  type SigningAlg,
  type SigningKey,
} from './key-set.js'
import { readKeyFiles, type KeyFiles, type ReadTextFile } from './read-key-files.js'
import {
  importKek,
  openKeySet,
  sealKeySet,
  UntrustedKeySetError,
  type RandomBytes,
} from './seal-key-set.js'

export interface KeyManagerOptions {
  /** Algorithm of keys this manager generates. Keys read from files or the store keep their own. */
  alg: SigningAlg
  /**
   * `generate`: in memory, this process only (embedded dev default);
   * `store`: shared through the grant store, private keys encrypted under `kek`;
   * `files`: PEM (PKCS#8) or JWK files, rotated by replacing them and calling `refresh()`.
   */
  source: 'generate' | 'store' | 'files'
  /** Required for source `store`. */
  store?: KeySetStore
  /** Base64 of 32 random bytes; required for source `store`. */
  kek?: string
  /**
   * The broker's issuer URL; required for source `store`. The stored key set is bound to it (a
   * set sealed for another issuer under the same KEK is refused).
   */
  issuer?: string
  /** Required for source `files`. */
  files?: KeyFiles
  /** How long `current` signs before `refresh()` rotates it (sources `generate` and `store`). */
  rotationSeconds: number
  /** The longest life of any token; a retired key stays published at least this long. */
  maxTokenTtlSeconds: number
  clock: Clock
  /** Randomness for the KEK encryption IVs. */
  random?: RandomBytes
  /**
   * Extra seconds a retired key stays published beyond `maxTokenTtlSeconds`: covers replicas that
   * keep signing with it until their next `refresh()`, and clock skew. Default 60.
   */
  retireGraceSeconds?: number
  /** Reads key files (source `files`). Default: `fs.readFile` as UTF-8. */
  readFile?: ReadTextFile
  /**
   * Called after each rotation this manager made on its own schedule (`init()`, `refresh()`),
   * once the new key set is in place (written to the store, for source `store`). A rotation
   * another replica made, and this one adopted, is not reported here: that replica reports it.
   * Rotations asked for with `rotate()` are its return value instead. Must not throw. Key files
   * replaced by an operator (source `files`) are no rotation this manager made.
   */
  onRotated?: (rotation: KeyRotation) => void
  /**
   * The alarm: called when the stored key set does not authenticate under the KEK (tampered
   * with, sealed for another issuer, or an older set put back), once per distinct stored value.
   * The manager keeps the keys it had (after `init()`) and refuses the set. Must not throw.
   */
  onUntrustedKeySet?: (alarm: UntrustedKeySetAlarm) => void
}

/** A stored key set this manager refused because it does not authenticate. */
export interface UntrustedKeySetAlarm {
  reason: string
  /** The store's version number of the refused value. */
  version: number
  /** The kid this manager keeps signing with; undefined when refused at `init()`. */
  keptKid?: string
}

/** A rotation this manager made: `kid` became current, `previousKid` was retired. */
export interface KeyRotation {
  kid: string
  previousKid: string
  /** Asked for with `force` or `compromised`: allowed to unpublish a key whose tokens lived. */
  forced: boolean
  /**
   * Set on a compromised-key rotation: fresh keys, every earlier key withdrawn at once. Its
   * `key.rotated` event carries no handover signed by the old key, and an auditor stops trusting
   * checkpoints the old key signs after that event.
   */
  compromised?: true
  /** With `compromised`: every earlier kid, none of them published any more. */
  withdrawnKids?: string[]
  /**
   * The old and new signing keys, with the new key's public JWK, so the rotation's `key.rotated`
   * audit event can be signed by both (see `keyRotatedEvent`); absent when either has no private
   * key here.
   */
  keys?: { previous: SigningKey; current: SigningKey; currentJwk: JWK }
}

export interface RotateOptions {
  /**
   * Rotate even though the previous key still covers unexpired tokens; those tokens stop
   * verifying. This still promotes the pre-generated `next` key: never use it for a key that may
   * have leaked (use `compromised`). Default false.
   */
  force?: boolean
  /**
   * The signing keys may be known to someone else: generate a fresh current and next key (both
   * new, never the pre-generated next), publish only those, and drop every earlier key (current,
   * next and previous) from the JWKS at once. Tokens signed by earlier keys stop verifying.
   * Default false.
   */
  compromised?: boolean
}

/** Signing keys in three slots (next, current, previous) and their rotation. */
export interface KeyManager {
  /** Loads or creates the key set. Must finish before any other call. */
  init(): Promise<void>
  /** The key that signs now. Cached: no import or decryption happens here. */
  signingKey(): SigningKey
  /** The public keys to publish: current, next and (until its tokens expired) previous. */
  jwks(): { keys: JWK[] }
  /**
   * Promotes next to current and current to previous, and generates a new next. Resolves with
   * the rotation made, or null when another replica rotated first (source `store`) and its keys
   * were adopted instead. With `compromised`, replaces every key with fresh ones instead and
   * always resolves with the rotation.
   */
  rotate(options?: RotateOptions): Promise<KeyRotation | null>
  /**
   * Picks up key changes made elsewhere (another replica's rotation, replaced key files) and
   * rotates when `current` has signed for `rotationSeconds`. Call it periodically.
   */
  refresh(): Promise<void>
  /** Every key with its slot and times, for admin views. */
  list(): KeyInfo[]
}

interface State {
  set: KeySet
  /** What the store held when `set` was read or written (source `store`), for compare-and-set. */
  stored: StoredKeySet | null
  signing: SigningKey
}

/**
 * Creates the signing key manager. Options are checked here and throw a ConfigError naming each
 * problem; keys are loaded by `init()`.
 *
 * @example
 * const keys = createKeyManager({ alg: 'ES256', source: 'store', store, kek: env.WRIT_KEK,
 *   rotationSeconds: 7 * 86400, maxTokenTtlSeconds: 3600, clock: systemClock })
 * await keys.init()
 * setInterval(() => keys.refresh().catch(log), 30_000)
 */
export function createKeyManager(options: KeyManagerOptions): KeyManager {
  const { alg, source, clock, rotationSeconds, maxTokenTtlSeconds } = options
  const graceSeconds = options.retireGraceSeconds ?? 60
  const random = options.random ?? randomBytes
  const readFile = options.readFile ?? ((path: string) => fsReadFile(path, 'utf8'))

  const problems: string[] = []
  if (!Number.isInteger(rotationSeconds) || rotationSeconds <= 0) {
    problems.push('keys.rotationSeconds: must be a positive integer')
  }
  if (!Number.isInteger(maxTokenTtlSeconds) || maxTokenTtlSeconds <= 0) {
    problems.push('tokens.maxTtlSeconds: must be a positive integer')
  }
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0) {
    problems.push('keys.retireGraceSeconds: must be a non-negative integer')
  }
  if (source !== 'files' && rotationSeconds <= maxTokenTtlSeconds + graceSeconds) {
    problems.push(
      `keys.rotationSeconds: must exceed tokens.maxTtlSeconds + ${graceSeconds}s, so a retired ` +
        'key has outlived its tokens before the next rotation drops it',
    )
  }
  if (source === 'store' && !options.store) {
    problems.push('store: required when keys.source is store')
  }
  if (source === 'store' && !options.kek) {
    problems.push('keys.kek: required when keys.source is store')
  }
  if (source === 'store' && !options.issuer) {
    problems.push('issuer: required when keys.source is store')
  }
  if (source === 'files' && !options.files) {
    problems.push('keys.files: required when keys.source is files')
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const kek = source === 'store' ? importKek(options.kek as string) : undefined

  let state: State | undefined
  /** The highest generation of an authenticated stored set seen (0: none, or only legacy). */
  let generation = 0
  /** The last stored value refused, so each is alarmed once. */
  let lastRefused: string | undefined
  let chain: Promise<unknown> = Promise.resolve()

  /** Runs key-set changes one at a time (a periodic refresh may meet an admin rotation). */
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn, fn)
    chain = run.catch(() => undefined)
    return run
  }

  const now = (): number => epochSeconds(clock)

  function ready(): State {
    if (!state) throw new Error('the key manager is not initialised: await init() first')
    return state
  }

  /** When a retired key leaves the JWKS; undefined for a `previous` named by a key file. */
  function publishedUntil(entry: KeyEntry): number | undefined {
    return entry.retiredAt === undefined
      ? undefined
      : entry.retiredAt + maxTokenTtlSeconds + graceSeconds
  }

  function isPublished(entry: KeyEntry, at: number): boolean {
    const until = publishedUntil(entry)
    return until === undefined || at < until
  }

  function adopt(set: KeySet, stored: StoredKeySet | null): void {
    // The signing view is built once per current key and reused until the next rotation.
    const signing =
      state?.signing.kid === set.current.kid ? state.signing : toSigningKey(set.current)
    state = { set, stored, signing }
  }

  function knownKeys(): Map<string, KeyEntry> {
    const known = new Map<string, KeyEntry>()
    if (!state) return known
    for (const entry of [state.set.current, state.set.next, state.set.previous]) {
      if (entry) known.set(entry.kid, entry)
    }
    return known
  }

  /** Every kid a set holds, published or not. */
  function allKids(set: KeySet): string[] {
    return [set.current, set.next, set.previous].flatMap((entry) => (entry ? [entry.kid] : []))
  }

  function retire(entry: KeyEntry, at: number): KeyEntry {
    // A retired key only verifies: its private half is dropped from memory and from the store.
    const { privateKey: _dropped, ...rest } = entry
    return { ...rest, retiredAt: at }
  }

  async function freshSet(at: number): Promise<KeySet> {
    const current = await generateKeyEntry(alg, at)
    current.activatedAt = at
    return { current, next: await generateKeyEntry(alg, at) }
  }

  async function rotated(set: KeySet, at: number): Promise<KeySet> {
    // Ensure the key that takes over has been published before it signs.
    if (!set.next?.privateKey) throw new Error('no next key with a private key to promote')
    return {
      current: { ...set.next, activatedAt: at },
      previous: retire(set.current, at),
      next: await generateKeyEntry(alg, at),
    }
  }

  function rotationDue(set: KeySet, at: number): boolean {
    return (set.current.activatedAt ?? set.current.createdAt) + rotationSeconds <= at
  }

  function blockedByPrevious(set: KeySet, at: number): boolean {
    return set.previous !== undefined && isPublished(set.previous, at)
  }

  function ensureRotationAllowed(set: KeySet, at: number, force: boolean): void {
    // Ensure a rotation does not unpublish a key whose tokens are still alive, unless forced.
    if (!force && blockedByPrevious(set, at)) {
      const until = set.previous && publishedUntil(set.previous)
      throw new WritError(
        'invalid_request',
        400,
        `the previous signing key still verifies unexpired tokens; rotate again after ${
          until === undefined ? 'it is removed' : new Date(until * 1000).toISOString()
        }; if the key may have leaked, rotate with compromised (writ keys rotate --compromised)`,
      )
    }
  }

  // source: store

  const issuer = options.issuer as string
  const keyStore = options.store as NonNullable<KeyManagerOptions['store']>
  const sealing = kek as NonNullable<typeof kek>

  /** Kids `set` publishes now: what the key-set announcement tells verifiers to accept. */
  function publishedKids(set: KeySet, at: number): string[] {
    const kids = [set.current.kid]
    if (set.next) kids.push(set.next.kid)
    if (set.previous && isPublished(set.previous, at)) kids.push(set.previous.kid)
    return kids
  }

  /** Raises the alarm for a refused stored value, once per distinct value. */
  function refuse(stored: StoredKeySet, err: UntrustedKeySetError): void {
    if (lastRefused === stored.data) return
    lastRefused = stored.data
    const alarm: UntrustedKeySetAlarm = { reason: err.message, version: stored.version }
    if (state) alarm.keptKid = state.set.current.kid
    try {
      options.onUntrustedKeySet?.(alarm)
    } catch {
      // The alarm must not stop the refusal.
    }
  }

  /**
   * Adopts the stored key set when it changed; returns false when the store holds none. Throws
   * an UntrustedKeySetError (after raising the alarm) when it does not authenticate, keeping the
   * keys already held.
   */
  async function syncFromStore(): Promise<boolean> {
    const stored = await keyStore.getKeySet()
    if (!stored) return false
    // Compare the data too: a flushed store restarts its versions, so a version can repeat.
    if (state?.stored?.version === stored.version && state.stored.data === stored.data) return true
    let opened: Awaited<ReturnType<typeof openKeySet>>
    try {
      opened = await openKeySet(stored.data, sealing, {
        issuer,
        known: knownKeys(),
        allowLegacy: generation === 0,
      })
      // Ensure an authentic but older set (one a later rotation replaced, put back by a store
      // writer to bring a withdrawn key back) is never adopted.
      if (opened.generation < generation) {
        throw new UntrustedKeySetError(
          `the key set in the store is generation ${opened.generation}, older than generation ` +
            `${generation} this broker already adopted: refused as a rollback`,
        )
      }
    } catch (err) {
      if (err instanceof UntrustedKeySetError) refuse(stored, err)
      throw err
    }
    generation = opened.generation
    adopt(opened.set, stored)
    // A legacy (unauthenticated) set is rewritten at once in the authenticated format.
    if (opened.legacy) await putOrAdopt(opened.set, stored.version)
    return true
  }

  /** Writes `set` with compare-and-set and announces it; true when it was written (and adopted). */
  async function tryPut(set: KeySet, expectedVersion: number | null): Promise<boolean> {
    const written = generation + 1
    const data = sealKeySet(set, sealing, { issuer, generation: written }, random)
    const announcement = keySetMessage(publishedKids(set, now()))
    if (!(await keyStore.putKeySet(data, expectedVersion, announcement))) return false
    generation = written
    adopt(set, { version: expectedVersion === null ? 1 : expectedVersion + 1, data })
    return true
  }

  /**
   * Writes `set` with compare-and-set; on conflict adopts the set that won instead. True when
   * `set` was written.
   */
  async function putOrAdopt(set: KeySet, expectedVersion: number | null): Promise<boolean> {
    if (await tryPut(set, expectedVersion)) return true
    // Another replica wrote first: its keys win, so every replica signs and publishes the same.
    if (!(await syncFromStore())) {
      throw new Error('the key set vanished from the store during a write')
    }
    return false
  }

  const rotationOf = (from: KeySet, to: KeySet, force: boolean): KeyRotation => ({
    kid: to.current.kid,
    previousKid: from.current.kid,
    forced: force,
    ...(from.current.privateKey && to.current.privateKey
      ? {
          keys: {
            previous: toSigningKey(from.current),
            current: toSigningKey(to.current),
            currentJwk: publishedJwk(to.current),
          },
        }
      : {}),
  })

  async function initStore(): Promise<void> {
    try {
      if (!(await syncFromStore())) await putOrAdopt(await freshSet(now()), null)
    } catch (err) {
      // Ensure a broker never starts on keys it cannot trust: there is no last good set yet.
      if (err instanceof UntrustedKeySetError && !/another KEK/.test(err.message)) {
        throw new ConfigError([`keys.kek: ${err.message}`])
      }
      if (err instanceof UntrustedKeySetError) {
        throw new ConfigError([
          `keys.kek: ${err.message}. Start with the WRIT_KEK this store's keys were first written ` +
            'with (generate it once and keep it, e.g. in a file or a secret manager; a new random ' +
            'one on each start never matches). If that KEK is lost, the stored keys cannot be ' +
            'opened: start on a new WRIT_KEY_PREFIX (tokens signed with the old keys stop ' +
            'verifying), and if nobody changed the KEK, treat the store as tampered with (docs/revocation.md)',
        ])
      }
      throw err
    }
  }

  /** Rotates when due (`autoRotate`) or as asked; null when nothing was rotated here. */
  async function refreshStore(autoRotate: boolean, force: boolean): Promise<KeyRotation | null> {
    if (!(await syncFromStore())) {
      // The store lost the key set (flushed): put ours back, or adopt whoever did first.
      await putOrAdopt(state ? state.set : await freshSet(now()), null)
    }
    const current = ready()
    const at = now()
    if (autoRotate && !(rotationDue(current.set, at) && !blockedByPrevious(current.set, at))) return null
    if (!autoRotate) ensureRotationAllowed(current.set, at, force)
    const next = await rotated(current.set, at)
    const written = await putOrAdopt(next, current.stored?.version ?? null)
    return written ? rotationOf(current.set, next, force) : null
  }

  /** Tries of a compromised-key rotation against other replicas' concurrent writes. */
  const COMPROMISED_WRITE_ATTEMPTS = 5

  /**
   * Replaces every key in the store with fresh ones. A stored set that does not authenticate
   * does not stop it: it is overwritten (that is the recovery).
   */
  async function rotateCompromisedStore(): Promise<KeyRotation> {
    const before = ready().set
    const withdrawn = new Set(allKids(before))
    for (let attempt = 0; attempt < COMPROMISED_WRITE_ATTEMPTS; attempt++) {
      try {
        await syncFromStore()
      } catch (err) {
        if (!(err instanceof UntrustedKeySetError)) throw err
      }
      for (const kid of allKids(ready().set)) withdrawn.add(kid)
      const stored = await keyStore.getKeySet()
      const fresh = await freshSet(now())
      if (await tryPut(fresh, stored?.version ?? null)) {
        return compromisedRotation(before, fresh, withdrawn)
      }
    }
    throw new WritError(
      'temporarily_unavailable',
      503,
      'the key set kept changing during the compromised-key rotation; run it again',
    )
  }

  function compromisedRotation(from: KeySet, to: KeySet, withdrawn: Set<string>): KeyRotation {
    for (const kid of allKids(to)) withdrawn.delete(kid)
    // The new key announces itself in the audit chain; the old key hands over nothing (a thief
    // holding it could sign a handover too): keyRotatedEvent leaves the handover out.
    return { ...rotationOf(from, to, true), compromised: true, withdrawnKids: [...withdrawn] }
  }

  // source: files

  async function loadFiles(): Promise<void> {
    const read = await readKeyFiles(options.files as KeyFiles, readFile)
    const at = now()
    const known = knownKeys()
    const entryFor = async (
      key: NonNullable<typeof read.next>,
      slot: KeySlot,
    ): Promise<KeyEntry> => {
      const fresh = await createKeyEntry(key, { createdAt: at })
      const old = known.get(fresh.kid)
      const entry: KeyEntry = { ...fresh, createdAt: old?.createdAt ?? at }
      if (slot === 'current') entry.activatedAt = old?.activatedAt ?? at
      return entry
    }
    const set: KeySet = { current: await entryFor(read.current, 'current') }
    if (read.next) set.next = await entryFor(read.next, 'next')
    if (read.previous) {
      set.previous = await entryFor(read.previous, 'previous')
    } else if (state) {
      const before = state.set
      const listed = new Set([set.current.kid, set.next?.kid])
      if (!listed.has(before.current.kid)) {
        // The operator replaced the current key without naming a previous one: keep publishing
        // the old key until every token it signed has expired.
        set.previous = retire(before.current, at)
      } else if (before.previous?.retiredAt !== undefined && !listed.has(before.previous.kid)) {
        set.previous = before.previous
      }
    }
    adopt(set, null)
  }

  async function refreshUnlocked(): Promise<void> {
    if (source === 'files') return loadFiles()
    let rotation: KeyRotation | null = null
    if (source === 'store') {
      rotation = await refreshStore(true, false)
    } else {
      const { set } = ready()
      const at = now()
      if (rotationDue(set, at) && !blockedByPrevious(set, at)) {
        const next = await rotated(set, at)
        adopt(next, null)
        rotation = rotationOf(set, next, false)
      }
    }
    if (rotation) options.onRotated?.(rotation)
  }

  return {
    init: () =>
      serialized(async () => {
        if (source === 'store') await initStore()
        else if (source === 'files') await loadFiles()
        else if (!state) adopt(await freshSet(now()), null)
        if (source !== 'files') await refreshUnlocked()
      }),

    signingKey: () => ready().signing,

    jwks: () => {
      const { set } = ready()
      const at = now()
      const keys = [publishedJwk(set.current)]
      if (set.next) keys.push(publishedJwk(set.next))
      if (set.previous && isPublished(set.previous, at)) keys.push(publishedJwk(set.previous))
      return { keys }
    },

    rotate: (rotateOptions = {}) =>
      serialized(async () => {
        const force = rotateOptions.force === true
        if (source === 'files') {
          throw new WritError(
            'invalid_request',
            400,
            'signing keys come from files: replace the key files and refresh to rotate',
          )
        }
        ready()
        if (rotateOptions.compromised === true) {
          if (source === 'store') return rotateCompromisedStore()
          const before = ready().set
          const fresh = await freshSet(now())
          adopt(fresh, null)
          return compromisedRotation(before, fresh, new Set(allKids(before)))
        }
        if (source === 'store') return refreshStore(false, force)
        const { set } = ready()
        const at = now()
        ensureRotationAllowed(set, at, force)
        const next = await rotated(set, at)
        adopt(next, null)
        return rotationOf(set, next, force)
      }),

    refresh: () => serialized(refreshUnlocked),

    list: () => {
      const { set } = ready()
      const at = now()
      const slots: Array<[KeySlot, KeyEntry | undefined]> = [
        ['current', set.current],
        ['next', set.next],
        ['previous', set.previous && isPublished(set.previous, at) ? set.previous : undefined],
      ]
      const out: KeyInfo[] = []
      for (const [slot, entry] of slots) {
        if (!entry) continue
        const info: KeyInfo = {
          kid: entry.kid,
          alg: entry.alg,
          slot,
          createdAt: entry.createdAt,
          hasPrivateKey: entry.privateKey !== undefined,
        }
        if (entry.activatedAt !== undefined) info.activatedAt = entry.activatedAt
        if (entry.retiredAt !== undefined) info.retiredAt = entry.retiredAt
        const until = slot === 'previous' ? publishedUntil(entry) : undefined
        if (until !== undefined) info.publishedUntil = until
        out.push(info)
      }
      return out
    },
  }

}
