import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { createAuditor } from '../../src/audit/create-auditor.js'
import { createRedisAuditLog } from '../../src/audit/redis-audit-log.js'
import { verifyChain } from '../../src/audit/verify-chain.js'
import { systemClock } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import { encodeGrantRecord } from '../../src/grants/grant-record.js'
import { createMemoryStore } from '../../src/open-store.js'
import { encodeKeyPart } from '../../src/wire/keys.js'
import { recordGrant } from '../../src/grants/record-grant.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { silentLogger } from '../../src/logger.js'
import { canonicalize } from '../../src/manifest/canonicalize.js'
import { makeAuditBroker, testKeys, type AuditTestBroker } from '../audit/helpers.js'
import { testGrant } from '../helpers/grant.js'
import { docsManifest, json, SECRETS } from '../helpers/broker.js'

// When the grant store and the audit log share one Redis (single or Sentinel), a token's
// `grant.issued` is taken in by the grant's own create script: one atomic write for both.

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const RUN_PREFIX = `writ-intake-${randomBytes(4).toString('hex')}:`
const admin = new Redis(REDIS_URL)
const stores: Store<RedisBackend>[] = []
const brokers: AuditTestBroker[] = []
let count = 0

function store(): Store<RedisBackend> {
  const s = createRedisStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}s${++count}:`, commandTimeoutMs: 1000, clock: systemClock })
  stores.push(s)
  return s
}

const grant = (clientId: string): Grant =>
  testGrant(clientId, 600, {
    manifestSha256: 'ab'.repeat(32),
    authorizationDetails: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }],
    ruleIds: ['docs-read'],
  })

/** The grant's `grant.issued` event, as issuance takes it in with the grant. */
const issued = (g: Grant): string => encodeGrantRecord(g, new Date().toISOString())

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.close()))
  await Promise.all(stores.map((s) => s.close()))
  const keys = await admin.keys(`${RUN_PREFIX}*`)
  if (keys.length) await admin.del(...keys)
  await admin.quit()
})

describe('the Redis grant store taking an audit event in with a grant', () => {
  it('offers it for a log on its own client only; the memory store never', async () => {
    const s = store()
    expect(s.grants.takesAuditIntake!(s.backend.redis)).toBe(true)
    expect(s.grants.takesAuditIntake!(admin)).toBe(false)
    const memory = createMemoryStore({ clock: systemClock })
    expect(memory.grants.takesAuditIntake).toBeUndefined()
    await expect(memory.grants.createGrant(grant('a'), { auditIntake: { streamKey: 'x', body: '{}' } })).rejects.toThrow(TypeError)
    expect(await memory.grants.countLiveGrants('a')).toBe(0)
    await memory.close()
  })

  it('writes the grant and the event together and returns the seq the stream gave it', async () => {
    const s = store()
    const streamKey = `${s.backend.keys.prefix}{audit}:log`
    const g = grant(`c-${randomUUID()}`)
    const body = issued(g)
    const created = await s.grants.createGrant(g, { auditIntake: { streamKey, body } })
    expect(created).toEqual({ auditSeq: 1 })
    expect(await admin.xrange(streamKey, '-', '+')).toEqual([['0-1', ['e', body]]])
    // One payload: the event's text is the grant's record too, and reads back as the grant.
    expect(await admin.get(s.backend.keys.grant(g.clientId, g.id))).toBe(body)
    expect(await s.grants.getGrant(g.clientId, g.id)).toEqual({ state: 'live', grant: g })
    // Without an intake, nothing is added to the stream; the store writes the record in the same
    // form itself (an approved, DPoP-bound grant reads back whole).
    const approved = testGrant(g.clientId, 600, {
      cnfJkt: 'jkt',
      task: { id: 'T-2', purpose: 'p', requested_by: 'carol@example.com' },
      approval: { id: 'apr_1', manifestSha256: '00'.repeat(32), approvers: [{ sub: 'alice@example.com', aaguid: '00000000-0000-0000-0000-000000000000', credentialId: 'Y3JlZA', at: 1 }] },
    })
    expect(await s.grants.createGrant(approved)).toEqual({})
    expect(await admin.xlen(streamKey)).toBe(1)
    const record = JSON.parse((await admin.get(s.backend.keys.grant(g.clientId, approved.id)))!) as Record<string, unknown>
    expect(record).toMatchObject({ type: 'grant.issued', grant: approved.id, cnf_jkt: 'jkt', approval: 'apr_1' })
    expect(await s.grants.getGrant(g.clientId, approved.id)).toEqual({ state: 'live', grant: approved })
  })

  it('writes neither when the store refuses the grant: quota reached, id in use', async () => {
    const s = store()
    const streamKey = `${s.backend.keys.prefix}{audit}:log`
    const client = `c-${randomUUID()}`
    const first = grant(client)
    await s.grants.createGrant(first, { maxLiveGrants: 1, auditIntake: { streamKey, body: issued(first) } })
    const over = grant(client)
    await expect(s.grants.createGrant(over, { maxLiveGrants: 1, auditIntake: { streamKey, body: issued(over) } })).rejects.toMatchObject({ code: 'quota_exceeded' })
    const reused = { ...first, task: { id: 'other' } }
    await expect(s.grants.createGrant(reused, { auditIntake: { streamKey, body: issued(reused) } })).rejects.toMatchObject({ code: 'server_error' })
    expect(await admin.xlen(streamKey)).toBe(1)
    expect((await s.grants.getGrant(client, over.id)).state).toBe('unknown')
  })

  it("indexes the grant's reference with its event, once: a reused reference is left to the chaining", async () => {
    const s = store()
    const streamKey = `${s.backend.keys.prefix}{audit}:log`
    const firstKey = `${s.backend.keys.prefix}{audit}:first`
    const client = `c-${randomUUID()}`
    const g = grant(client)
    const index = { key: firstKey, ref: `g:${g.id}` }
    expect(await s.grants.createGrant(g, { auditIntake: { streamKey, body: issued(g), index } })).toEqual({ auditSeq: 1, auditIndexed: true })
    expect(await admin.hget(firstKey, `g:${g.id}`)).toBe('1')
    // A second event naming the same reference (an id reused, however unlikely): its first seq stays.
    const again = grant(client)
    expect(await s.grants.createGrant(again, { auditIntake: { streamKey, body: issued(again), index } })).toEqual({ auditSeq: 2, auditIndexed: false })
    expect(await admin.hget(firstKey, `g:${g.id}`)).toBe('1')
    // An index that cannot be written fails nothing: the grant and its event are recorded.
    await admin.set(firstKey, 'in the way')
    const third = grant(client)
    const created = await s.grants.createGrant(third, { auditIntake: { streamKey, body: issued(third), index: { key: firstKey, ref: `g:${third.id}` } } })
    expect(created).toEqual({ auditSeq: 3, auditIndexed: false })
    expect((await s.grants.getGrant(client, third.id)).state).toBe('live')
  })

  it('writes neither when the event cannot be taken in (the stream key holds another type)', async () => {
    const s = store()
    const streamKey = `${s.backend.keys.prefix}{audit}:log`
    await admin.set(streamKey, 'in the way')
    const g = grant(`c-${randomUUID()}`)
    await expect(s.grants.createGrant(g, { auditIntake: { streamKey, body: issued(g) } })).rejects.toMatchObject({ status: 503 })
    expect((await s.grants.getGrant(g.clientId, g.id)).state).toBe('unknown')
    expect(await s.grants.countLiveGrants(g.clientId)).toBe(0)
  })
})

describe('issuance on a broker whose store and audit log share one Redis', () => {
  it('chains the grant.issued of each token; a refused grant leaves no event at all', async () => {
    const adminToken = await createAdminToken()
    const broker = await makeAuditBroker({
      config: {
        store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: `${RUN_PREFIX}b:` },
        keys: { source: 'store', kek: randomBytes(32).toString('base64') },
        admin: { tokenHash: adminToken.tokenHash },
      },
      maxLiveGrants: 2,
    })
    brokers.push(broker)
    const shared = broker.audit.sharedIntake
    expect(shared?.streamKey).toBe(`${RUN_PREFIX}b:{audit}:log`)
    const manifest = (task: string) => docsManifest({ task: { id: task }, grants: docsManifest().grants.slice(0, 1) })
    const issued: string[] = []
    for (const task of ['T-1', 'T-2']) {
      const res = await broker.call('POST', '/v1/tokens', { ...json(manifest(task)), basic: ['agent-a', SECRETS['agent-a']] })
      expect(res.status).toBe(200)
      issued.push(((await res.json()) as { grant_id: string }).grant_id)
    }
    // Everything noted so far is in the stream (events the broker notes on its own, such as its
    // signing key's, may still be on their way on a loaded machine).
    await broker.audit.flush()
    const streamBefore = await admin.xlen(shared!.streamKey)
    // The quota is reached: 429, and the log gains nothing (no grant.issued, no grant.voided).
    const refused = await broker.call('POST', '/v1/tokens', { ...json(manifest('T-3')), basic: ['agent-a', SECRETS['agent-a']] })
    expect(refused.status).toBe(429)
    expect(await admin.xlen(shared!.streamKey)).toBe(streamBefore)
    await broker.audit.flush()
    const events = await broker.audit.log!.read()
    expect(events.filter((e) => e.type === 'grant.issued').map((e) => e.grant)).toEqual(issued)
    expect(events.some((e) => e.type === 'grant.voided' || JSON.stringify(e).includes('T-3'))).toBe(false)
    for (const id of issued) expect((await broker.audit.log!.find({ grantId: id })).map((e) => e.type)).toEqual(['grant.issued'])
    // Each grant.issued was indexed under its grant by the create script (its first seq), and the
    // chaining listed it nowhere else.
    for (const [i, id] of issued.entries()) {
      expect(await admin.hget(`${RUN_PREFIX}b:{audit}:first`, `g:${id}`)).toBe(String(events.find((e) => e.type === 'grant.issued' && e.grant === issued[i])!.seq))
      expect(await admin.exists(`${RUN_PREFIX}b:{audit}:i:${encodeKeyPart(`g:${id}`)}`)).toBe(0)
    }
    expect(await verifyChain(events.map((e) => JSON.stringify(e)), { keys: broker.keys.jwks(), requireSeal: false })).toMatchObject({ ok: true })
  })
})

describe('a grant.issued indexed when taken in, chained by another replica', () => {
  it("is found once under its grant, and a reused grant id's events in order", async () => {
    const s = store()
    const keys = await testKeys(systemClock)
    const log = createRedisAuditLog({ redis: s.backend.redis, keyPrefix: s.backend.keys.prefix, clock: systemClock, issuer: 'https://writ.test', signer: keys })
    const audit = createAuditor({ log, logger: silentLogger, clock: systemClock })
    const shared = log.sharedIntake!
    const g = grant(`c-${randomUUID()}`)
    const ref = `g:${g.id}`
    // A replica took the event in (indexed under the grant) and stopped before chaining it: this
    // one reads it back when it chains.
    await s.grants.createGrant(g, { auditIntake: { streamKey: shared.streamKey, body: issued(g), index: { key: shared.firstKey, ref } } })
    // The grant's records expire; a new grant gets the same id (however unlikely), through this
    // replica: its event finds the reference indexed, so the chaining lists it.
    await admin.del(s.backend.keys.grant(g.clientId, g.id), s.backend.keys.grantPointer(g.id))
    const again = { ...grant(g.clientId), id: g.id }
    await recordGrant({ store: s.grants, audit }, again, canonicalize(again.authorizationDetails))
    await log.flush()
    expect((await log.find({ grantId: g.id })).map((e) => e.seq)).toEqual([1, 2])
    expect(await admin.hget(shared.firstKey, ref)).toBe('1')
    expect(await admin.lrange(`${s.backend.keys.prefix}{audit}:i:${encodeKeyPart(ref)}`, 0, -1)).toEqual(['2'])
    expect((await verifyChain((await log.read()).map((e) => JSON.stringify(e)), { keys: keys.jwks(), requireSeal: false })).ok).toBe(true)
    await audit.close()
  })
})
