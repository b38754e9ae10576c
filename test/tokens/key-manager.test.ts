import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { ConfigError } from '../../src/config.js'
import { WritError } from '../../src/errors.js'
import { createMemoryStore } from '../../src/open-store.js'
import type { Store } from '../../src/open-store.js'
import { calculateJwkThumbprint } from 'jose'
import type { RevocationMessage } from '../../src/wire/revocation-message.js'
import {
  createKeyManager,
  type KeyManagerOptions,
  type KeyRotation,
  type UntrustedKeySetAlarm,
} from '../../src/tokens/index.js'

const KEK = randomBytes(32).toString('base64')
const ISSUER = 'https://writ.test'
const HOUR = 3600
const DAY = 24 * HOUR
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']

function setup(overrides: Partial<KeyManagerOptions> = {}) {
  const clock = manualClock()
  const store = createMemoryStore({ clock })
  const options: KeyManagerOptions = {
    alg: 'ES256',
    source: 'generate',
    store: store.keySets,
    kek: KEK,
    rotationSeconds: 7 * DAY,
    maxTokenTtlSeconds: HOUR,
    retireGraceSeconds: 0,
    clock,
    ...overrides,
  }
  return { clock, store, options }
}

const kids = (jwks: { keys: Array<{ kid?: string }> }) => jwks.keys.map((k) => k.kid)

describe('createKeyManager (generate)', () => {
  it('publishes current and next with kid, alg and use, and no private members', async () => {
    const { options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    const jwks = keys.jwks()
    expect(jwks.keys).toHaveLength(2)
    const [current, next] = keys.list()
    expect(current?.slot).toBe('current')
    expect(next?.slot).toBe('next')
    expect(kids(jwks)).toEqual([current?.kid, next?.kid])
    for (const jwk of jwks.keys) {
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
      expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
      for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member)
    }
    expect(keys.signingKey().kid).toBe(current?.kid)
  })

  it('uses the RFC 7638 thumbprint as kid', async () => {
    const { calculateJwkThumbprint } = await import('jose')
    const { options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    for (const jwk of keys.jwks().keys) expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk))
  })

  it('returns the same cached signing key on every call', async () => {
    const { options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    expect(keys.signingKey()).toBe(keys.signingKey())
    expect(keys.signingKey().privateKey.type).toBe('private')
  })

  it('promotes next to current and keeps previous published until its tokens expired', async () => {
    const { clock, options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    const [first, second] = kids(keys.jwks())
    await keys.rotate()
    const after = keys.list()
    expect(after.map((k) => [k.slot, k.kid])).toEqual([
      ['current', second],
      ['next', after[1]?.kid],
      ['previous', first],
    ])
    expect(after[1]?.kid).not.toBe(first)
    expect(keys.signingKey().kid).toBe(second)
    const previous = after[2]
    expect(previous?.hasPrivateKey).toBe(false)
    expect(previous?.publishedUntil).toBe((previous?.retiredAt ?? 0) + HOUR)

    clock.advance(HOUR * 1000 - 1000)
    expect(kids(keys.jwks())).toContain(first)
    clock.advance(1000)
    expect(kids(keys.jwks())).not.toContain(first)
    expect(keys.list().map((k) => k.slot)).toEqual(['current', 'next'])
  })

  it('keeps a retired key published for the grace period beyond the longest token', async () => {
    const { clock, options } = setup({ retireGraceSeconds: 60 })
    const keys = createKeyManager(options)
    await keys.init()
    const first = keys.signingKey().kid
    await keys.rotate()
    clock.advance((HOUR + 59) * 1000)
    expect(kids(keys.jwks())).toContain(first)
    clock.advance(1000)
    expect(kids(keys.jwks())).not.toContain(first)
  })

  it('refuses a rotation that would unpublish a key with live tokens, unless forced', async () => {
    const { options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    const first = keys.signingKey().kid
    await keys.rotate()
    const err = await keys.rotate().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritError)
    expect((err as WritError).code).toBe('invalid_request')
    expect(kids(keys.jwks())).toContain(first)
    await keys.rotate({ force: true })
    expect(kids(keys.jwks())).not.toContain(first)
  })

  it('rotates on refresh once current has signed for rotationSeconds, not before, and reports it', async () => {
    const { clock, options } = setup()
    const rotations: KeyRotation[] = []
    const keys = createKeyManager({ ...options, onRotated: (r) => rotations.push(r) })
    await keys.init()
    const [first, second] = kids(keys.jwks())
    clock.advance(7 * DAY * 1000 - 1000)
    await keys.refresh()
    expect(keys.signingKey().kid).toBe(first)
    expect(rotations).toEqual([])
    clock.advance(1000)
    await keys.refresh()
    expect(keys.signingKey().kid).toBe(second)
    expect(keys.list().find((k) => k.slot === 'previous')?.kid).toBe(first)
    expect(rotations).toMatchObject([{ kid: second, previousKid: first, forced: false }])
  })

  it('returns the rotation rotate() made, and reports only scheduled ones to onRotated', async () => {
    const { options } = setup()
    const rotations: KeyRotation[] = []
    const keys = createKeyManager({ ...options, onRotated: (r) => rotations.push(r) })
    await keys.init()
    const [first, second] = kids(keys.jwks())
    expect(await keys.rotate()).toMatchObject({ kid: second, previousKid: first, forced: false })
    const third = keys.list().find((k) => k.slot === 'next')?.kid
    expect(await keys.rotate({ force: true })).toMatchObject({ kid: third, previousKid: second, forced: true })
    expect(rotations).toEqual([])
  })

  it('replaces every key with fresh ones on a compromised rotation, whatever the previous key covers', async () => {
    const { options } = setup()
    const keys = createKeyManager(options)
    await keys.init()
    await keys.rotate()
    const before = keys.list().map((k) => k.kid)
    const rotation = await keys.rotate({ compromised: true })
    const after = kids(keys.jwks())
    expect(after).toHaveLength(2)
    for (const kid of before) expect(after).not.toContain(kid)
    expect(keys.signingKey().kid).toBe(after[0])
    expect(rotation).toMatchObject({ compromised: true, forced: true, previousKid: before[0] })
    expect(new Set(rotation?.withdrawnKids)).toEqual(new Set(before))
  })

  it('generates EdDSA keys when asked', async () => {
    const { options } = setup({ alg: 'EdDSA' })
    const keys = createKeyManager(options)
    await keys.init()
    for (const jwk of keys.jwks().keys) {
      expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
      expect(jwk).not.toHaveProperty('d')
    }
  })

  it('rejects options where a retired key could be dropped while its tokens live', () => {
    const { options } = setup({ rotationSeconds: HOUR })
    expect(() => createKeyManager(options)).toThrow(ConfigError)
  })

  it('throws when used before init', () => {
    const { options } = setup()
    expect(() => createKeyManager(options).signingKey()).toThrow(/init/)
  })
})

describe('createKeyManager (store)', () => {
  const storeOptions = (store: Store, clock: ReturnType<typeof manualClock>) =>
    setup({ source: 'store', store: store.keySets, clock, issuer: ISSUER }).options

  it('two replicas initialising at once end with the same keys', async () => {
    const { clock, store } = setup()
    const a = createKeyManager(storeOptions(store, clock))
    const b = createKeyManager(storeOptions(store, clock))
    await Promise.all([a.init(), b.init()])
    expect(a.signingKey().kid).toBe(b.signingKey().kid)
    expect(a.jwks()).toEqual(b.jwks())
    expect((await store.keySets.getKeySet())?.version).toBe(1)
  })

  it('a replica picks up a rotation made elsewhere on refresh, without reporting it as its own', async () => {
    const { clock, store } = setup()
    const rotations: KeyRotation[] = []
    const a = createKeyManager(storeOptions(store, clock))
    const b = createKeyManager({ ...storeOptions(store, clock), onRotated: (r) => rotations.push(r) })
    await a.init()
    await b.init()
    const [first, second] = kids(a.jwks())
    expect(await a.rotate()).toMatchObject({ kid: second, previousKid: first, forced: false })
    expect(b.signingKey().kid).toBe(first)
    await b.refresh()
    expect(b.signingKey().kid).toBe(second)
    expect(b.jwks()).toEqual(a.jwks())
    expect(rotations).toEqual([])
  })

  it('replicas auto-rotating at the same moment rotate once, converge, and one reports it', async () => {
    const { clock, store } = setup()
    const rotations: Array<[string, KeyRotation]> = []
    const a = createKeyManager({ ...storeOptions(store, clock), onRotated: (r) => rotations.push(['a', r]) })
    const b = createKeyManager({ ...storeOptions(store, clock), onRotated: (r) => rotations.push(['b', r]) })
    await a.init()
    await b.init()
    const [first, second] = kids(a.jwks())
    clock.advance(7 * DAY * 1000)
    await Promise.all([a.refresh(), b.refresh()])
    expect(a.signingKey().kid).toBe(second)
    expect(b.signingKey().kid).toBe(second)
    expect(a.jwks()).toEqual(b.jwks())
    expect((await store.keySets.getKeySet())?.version).toBe(2)
    expect(rotations.map(([, r]) => r)).toMatchObject([{ kid: second, previousKid: first, forced: false }])
  })

  it('rotate() answers null when another replica rotated first and its keys were adopted', async () => {
    const { clock, store } = setup()
    const a = createKeyManager(storeOptions(store, clock))
    const b = createKeyManager(storeOptions(store, clock))
    await a.init()
    await b.init()
    // Both rotate from the same stored version: exactly one write wins.
    const results = await Promise.all([a.rotate(), b.rotate()])
    expect(results.filter((r) => r !== null)).toHaveLength(1)
    expect(a.signingKey().kid).toBe(b.signingKey().kid)
  })

  it('a restarted replica loads the existing keys and can sign with them', async () => {
    const { clock, store } = setup()
    const a = createKeyManager(storeOptions(store, clock))
    await a.init()
    await a.rotate()
    const b = createKeyManager(storeOptions(store, clock))
    await b.init()
    expect(b.list()).toEqual(a.list())
    expect(b.signingKey().privateKey.type).toBe('private')
  })

  it('fails at init with a clear error when the KEK is wrong', async () => {
    const { clock, store } = setup()
    await createKeyManager(storeOptions(store, clock)).init()
    const wrong = createKeyManager({
      ...storeOptions(store, clock),
      kek: randomBytes(32).toString('base64'),
    })
    const err = await wrong.init().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(String((err as Error).message)).toMatch(/keys\.kek: .*does not authenticate under keys\.kek/)
  })

  it('stores no plaintext private key material', async () => {
    const { clock, store } = setup()
    const keys = createKeyManager(storeOptions(store, clock))
    await keys.init()
    await keys.rotate()
    const data = (await store.keySets.getKeySet())?.data ?? ''
    const signing = keys.signingKey().privateKey
    const d = signing.export({ format: 'jwk' }).d as string
    expect(d.length).toBeGreaterThan(20)
    expect(data).not.toContain(d)
    expect(data).not.toContain(Buffer.from(d, 'base64url').toString('base64'))
    const der = signing.export({ format: 'der', type: 'pkcs8' })
    expect(data).not.toContain(der.toString('base64url'))
    expect(data).not.toContain(der.toString('base64'))
    expect(data).not.toContain(der.toString('hex'))
    expect(data).not.toMatch(/"d"\s*:/)
    expect(data).not.toContain('PRIVATE KEY')
  })

  it('refuses a ciphertext moved under another key (the whole set is authenticated)', async () => {
    const { clock, store } = setup()
    await createKeyManager(storeOptions(store, clock)).init()
    const stored = await store.keySets.getKeySet()
    const envelope = JSON.parse(stored?.data ?? '') as { body: string }
    const body = JSON.parse(envelope.body) as { keys: Array<{ sealed?: unknown }> }
    const [current, next] = body.keys
    if (!current || !next) throw new Error('expected two keys')
    ;[current.sealed, next.sealed] = [next.sealed, current.sealed]
    envelope.body = JSON.stringify(body)
    expect(await store.keySets.putKeySet(JSON.stringify(envelope), stored?.version ?? null)).toBe(true)
    await expect(createKeyManager(storeOptions(store, clock)).init()).rejects.toThrow(ConfigError)
  })

  it('requires a 32-byte KEK', () => {
    const { clock, store } = setup()
    expect(() =>
      createKeyManager({ ...storeOptions(store, clock), kek: randomBytes(16).toString('base64') }),
    ).toThrow(/32 bytes/)
  })

  it('after the store lost its data, replicas converge on the keys written first', async () => {
    const { clock, store } = setup()
    // The same store seen through a switch, to simulate a flush (a fresh, empty store).
    let target: Store = store
    const flushable = {
      getKeySet: () => target.keySets.getKeySet(),
      putKeySet: (data: string, version: number | null) => target.keySets.putKeySet(data, version),
    }
    const a = createKeyManager({ ...storeOptions(store, clock), store: flushable })
    await a.init()
    target = createMemoryStore({ clock })
    // A replica started after the flush writes its own set as version 1, the version `a` holds.
    const b = createKeyManager({ ...storeOptions(target, clock) })
    await b.init()
    expect(b.signingKey().kid).not.toBe(a.signingKey().kid)
    await a.refresh()
    expect(a.signingKey().kid).toBe(b.signingKey().kid)
    expect(a.jwks()).toEqual(b.jwks())
  })

  it('writes its keys back when the store lost them and nobody else did', async () => {
    const { clock, store } = setup()
    let target: Store = store
    const flushable = {
      getKeySet: () => target.keySets.getKeySet(),
      putKeySet: (data: string, version: number | null) => target.keySets.putKeySet(data, version),
    }
    const a = createKeyManager({ ...storeOptions(store, clock), store: flushable })
    await a.init()
    const kid = a.signingKey().kid
    target = createMemoryStore({ clock })
    await a.refresh()
    expect(a.signingKey().kid).toBe(kid)
    const b = createKeyManager({ ...storeOptions(target, clock) })
    await b.init()
    expect(b.signingKey().kid).toBe(kid)
  })
})

describe('createKeyManager (store): the key set authenticates under the KEK', () => {
  const storeOptions = (store: Store, clock: ReturnType<typeof manualClock>) =>
    setup({ source: 'store', store: store.keySets, clock, issuer: ISSUER }).options

  /** An attacker's public key in the `previous` slot, as one store write (no KEK) would put it. */
  async function plantPrevious(store: Store): Promise<string> {
    const stored = await store.keySets.getKeySet()
    if (!stored) throw new Error('no key set')
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    const jwk = attacker.export({ format: 'jwk' })
    const kid = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! })
    const envelope = JSON.parse(stored.data) as { body: string }
    const body = JSON.parse(envelope.body) as { keys: unknown[] }
    body.keys.push({
      slot: 'previous', kid, alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y },
      createdAt: 1, activatedAt: 1, retiredAt: 2_000_000_000,
    })
    envelope.body = JSON.stringify(body)
    expect(await store.keySets.putKeySet(JSON.stringify(envelope), stored.version)).toBe(true)
    return kid
  }

  it('refuses a planted previous key, raises the alarm once, and keeps the last good keys', async () => {
    const { clock, store } = setup()
    const alarms: UntrustedKeySetAlarm[] = []
    const keys = createKeyManager({ ...storeOptions(store, clock), onUntrustedKeySet: (a) => alarms.push(a) })
    await keys.init()
    const before = keys.jwks()
    const planted = await plantPrevious(store)
    await expect(keys.refresh()).rejects.toThrow(/does not authenticate under keys\.kek/)
    await expect(keys.refresh()).rejects.toThrow(/does not authenticate/)
    expect(keys.jwks()).toEqual(before)
    expect(kids(keys.jwks())).not.toContain(planted)
    expect(alarms).toHaveLength(1)
    expect(alarms[0]).toMatchObject({ version: 2, keptKid: keys.signingKey().kid })
    // A broker starting on the tampered set refuses to start rather than publish it.
    await expect(createKeyManager(storeOptions(store, clock)).init()).rejects.toThrow(ConfigError)
  })

  it.each([
    ['not JSON', 'garbage'],
    ['another format', JSON.stringify({ format: 'writ.keyset.v3', keys: [] })],
    ['an envelope without a MAC', JSON.stringify({ format: 'writ.keyset.v2', body: '{}' })],
  ])('refuses and alarms on a stored value that is %s; a compromised rotation still recovers', async (_name, value) => {
    const { clock, store } = setup()
    const alarms: UntrustedKeySetAlarm[] = []
    const keys = createKeyManager({ ...storeOptions(store, clock), onUntrustedKeySet: (a) => alarms.push(a) })
    await keys.init()
    const before = keys.jwks()
    const stored = await store.keySets.getKeySet()
    expect(await store.keySets.putKeySet(value, stored!.version)).toBe(true)
    await expect(keys.refresh()).rejects.toThrow()
    expect(keys.jwks()).toEqual(before)
    expect(alarms).toHaveLength(1)
    await keys.rotate({ compromised: true })
    await expect(createKeyManager(storeOptions(store, clock)).init()).resolves.toBeUndefined()
  })

  it('refuses a set sealed for another issuer under the same KEK', async () => {
    const { clock, store } = setup()
    await createKeyManager({ ...storeOptions(store, clock), issuer: 'https://other.test' }).init()
    const err = await createKeyManager(storeOptions(store, clock)).init().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(String((err as Error).message)).toMatch(/sealed for issuer "https:\/\/other\.test"/)
  })

  it('refuses an older authentic set put back (a rollback to a withdrawn key)', async () => {
    const { clock, store } = setup()
    const alarms: UntrustedKeySetAlarm[] = []
    const keys = createKeyManager({ ...storeOptions(store, clock), onUntrustedKeySet: (a) => alarms.push(a) })
    await keys.init()
    const old = await store.keySets.getKeySet()
    const leaked = keys.signingKey().kid
    await keys.rotate({ compromised: true })
    const now = await store.keySets.getKeySet()
    expect(await store.keySets.putKeySet(old!.data, now!.version)).toBe(true)
    await expect(keys.refresh()).rejects.toThrow(/rollback/)
    expect(kids(keys.jwks())).not.toContain(leaked)
    expect(alarms).toHaveLength(1)
  })

  it('reads a legacy v1 set once: keeps its sealed keys, drops its unauthenticated previous, rewrites it', async () => {
    const { clock, store } = setup()
    const first = createKeyManager(storeOptions(store, clock))
    await first.init()
    // The v1 layout: the v2 body's keys at top level, with no MAC (what earlier versions wrote).
    const stored = await store.keySets.getKeySet()
    const body = JSON.parse((JSON.parse(stored!.data) as { body: string }).body) as { keys: unknown[] }
    const v1 = { format: 'writ.keyset.v1', keys: body.keys }
    expect(await store.keySets.putKeySet(JSON.stringify(v1), stored!.version)).toBe(true)
    const planted = await (async () => {
      const attacker = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })
      const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: attacker.x! })
      v1.keys.push({ slot: 'previous', kid, alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519', x: attacker.x }, createdAt: 1, retiredAt: 2_000_000_000 })
      const now = await store.keySets.getKeySet()
      expect(await store.keySets.putKeySet(JSON.stringify(v1), now!.version)).toBe(true)
      return kid
    })()
    const upgraded = createKeyManager(storeOptions(store, clock))
    await upgraded.init()
    expect(upgraded.signingKey().kid).toBe(first.signingKey().kid)
    expect(kids(upgraded.jwks())).not.toContain(planted)
    expect(JSON.parse((await store.keySets.getKeySet())!.data).format).toBe('writ.keyset.v2')
    // Once v2 is in use, a v1 set is a downgrade.
    const now = await store.keySets.getKeySet()
    expect(await store.keySets.putKeySet(JSON.stringify(v1), now!.version)).toBe(true)
    await expect(upgraded.refresh()).rejects.toThrow(/downgrade/)
  })

  it('a compromised rotation replaces every key with fresh ones and announces only those', async () => {
    const { clock, store } = setup()
    const heard: RevocationMessage[] = []
    await store.revocations.subscribeRevocations((m) => heard.push(m))
    const a = createKeyManager(storeOptions(store, clock))
    const b = createKeyManager(storeOptions(store, clock))
    await a.init()
    await a.rotate()
    await b.init()
    const before = a.list().map((k) => k.kid)
    expect(before).toHaveLength(3)
    const rotation = await a.rotate({ compromised: true })
    expect(rotation).toMatchObject({ compromised: true, forced: true })
    expect(new Set(rotation?.withdrawnKids)).toEqual(new Set(before))
    const after = kids(a.jwks())
    expect(after).toHaveLength(2)
    for (const kid of before) expect(after).not.toContain(kid)
    expect(heard.at(-1)).toEqual({ v: 1, keys: { kids: after } })
    await b.refresh()
    expect(b.jwks()).toEqual(a.jwks())
  })

  it('a compromised rotation overwrites a stored set that does not authenticate', async () => {
    const { clock, store } = setup()
    const keys = createKeyManager(storeOptions(store, clock))
    await keys.init()
    const planted = await plantPrevious(store)
    await keys.rotate({ compromised: true })
    expect(kids(keys.jwks())).not.toContain(planted)
    const fresh = createKeyManager(storeOptions(store, clock))
    await fresh.init()
    expect(fresh.jwks()).toEqual(keys.jwks())
  })
})

describe('createKeyManager (files)', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'writ-keys-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const ecPem = () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString()
  const edJwk = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })

  it('reads a PEM current key and a public JWK next key', async () => {
    const { options } = setup({ source: 'files' })
    const nextJwk = edJwk()
    const { d: _d, ...nextPublic } = nextJwk
    await writeFile(join(dir, 'current.pem'), ecPem())
    await writeFile(join(dir, 'next.json'), JSON.stringify(nextPublic))
    const keys = createKeyManager({
      ...options,
      files: { current: join(dir, 'current.pem'), next: join(dir, 'next.json') },
    })
    await keys.init()
    expect(keys.list().map((k) => [k.slot, k.alg, k.hasPrivateKey])).toEqual([
      ['current', 'ES256', true],
      ['next', 'EdDSA', false],
    ])
    expect(keys.signingKey().alg).toBe('ES256')
    for (const jwk of keys.jwks().keys) expect(jwk).not.toHaveProperty('d')
  })

  it('picks up replaced files on refresh and keeps the old key until its tokens die', async () => {
    const { clock, options } = setup({ source: 'files' })
    const current = join(dir, 'current.json')
    await writeFile(current, JSON.stringify(edJwk()))
    const keys = createKeyManager({ ...options, files: { current } })
    await keys.init()
    const old = keys.signingKey().kid
    await writeFile(current, JSON.stringify(edJwk()))
    await keys.refresh()
    expect(keys.signingKey().kid).not.toBe(old)
    expect(keys.list().find((k) => k.slot === 'previous')?.kid).toBe(old)
    clock.advance(HOUR * 1000)
    await keys.refresh()
    expect(kids(keys.jwks())).not.toContain(old)
  })

  it('reports an unusable key file at init', async () => {
    const { options } = setup({ source: 'files' })
    const current = join(dir, 'current.pem')
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    await writeFile(current, rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())
    const keys = createKeyManager({ ...options, files: { current } })
    await expect(keys.init()).rejects.toThrow(/keys\.files\.current .*unsupported key type rsa/)
  })

  it('refuses a public key as the current key', async () => {
    const { options } = setup({ source: 'files' })
    const current = join(dir, 'current.pem')
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await writeFile(current, publicKey.export({ format: 'pem', type: 'spki' }).toString())
    const keys = createKeyManager({ ...options, files: { current } })
    await expect(keys.init()).rejects.toThrow(/must be a private key/)
  })

  it('says to replace the files when asked to rotate', async () => {
    const { options } = setup({ source: 'files' })
    const current = join(dir, 'current.pem')
    await writeFile(current, ecPem())
    const keys = createKeyManager({ ...options, files: { current } })
    await keys.init()
    await expect(keys.rotate()).rejects.toThrow(/replace the key files/)
  })
})
