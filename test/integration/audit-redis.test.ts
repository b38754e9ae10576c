import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { exportAudit } from '../../src/audit/export-audit.js'
import { hashAuditEvent } from '../../src/audit/hash-audit-event.js'
import { createRedisAuditLog } from '../../src/audit/redis-audit-log.js'
import type { AuditEventInput } from '../../src/audit/types.js'
import { verifyChain } from '../../src/audit/verify-chain.js'
import { manualClock } from '../../src/clock.js'
import { failFastRedisOptions } from '../../src/store/redis-connection.js'
import { auditLogContract } from '../audit/audit-log-contract.js'
import { sampleEvents, testKeys } from '../audit/helpers.js'
import { startRedis } from '../helpers/redis.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const clients: Redis[] = []
const prefixes: string[] = []

function client(url = REDIS_URL): Redis {
  const redis = new Redis(url, failFastRedisOptions(1000))
  redis.on('error', () => {})
  clients.push(redis)
  return redis
}

function prefix(): string {
  const p = `writ-audit-${randomBytes(4).toString('hex')}:`
  prefixes.push(p)
  return p
}

afterAll(async () => {
  const redis = new Redis(REDIS_URL)
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}*`)
    if (keys.length) await redis.del(...keys)
  }
  await redis.quit()
  for (const c of clients) c.disconnect()
})

auditLogContract('Redis', async (options) => createRedisAuditLog({ ...options, redis: client(), keyPrefix: prefix() }))

describe('Redis audit log shared by replicas', () => {
  it('keeps one verifiable chain while two writers append concurrently', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const keys = await testKeys(clock)
    const shared = prefix()
    const options = { clock, issuer: 'https://writ.test', signer: keys, checkpointEveryEvents: 25 }
    // Two replicas: separate connections, separate writers, one stream.
    const one = createRedisAuditLog({ ...options, redis: client(), keyPrefix: shared })
    const two = createRedisAuditLog({ ...options, redis: client(), keyPrefix: shared })
    const rounds = 8
    // Round after round, both append at once, and both chainers race for the same head.
    const written = []
    for (let round = 0; round < rounds; round++) {
      const [a, b] = await Promise.all([
        Promise.all(sampleEvents(20).map((e) => one.append(e))),
        Promise.all(sampleEvents(20).map((e) => two.append(e))),
      ])
      written.push({ round, a, b })
    }
    await Promise.all([one.checkpoint(), two.flush()])
    const all = await one.read({ limit: 10_000 })
    const result = await verifyChain(all.map((e) => JSON.stringify(e)), { keys: keys.jwks(), requireSeal: false })
    expect(result).toMatchObject({ ok: true, firstSeq: 1, lastSeq: all.length })
    expect(result.checkpoints).toBeGreaterThanOrEqual(Math.floor((rounds * 40) / 25))
    // Every event each writer was told about is in the log, once, where it was told.
    const bySeq = new Map(all.map((e) => [e.seq, e]))
    const told = written.flatMap(({ a, b }) => [...a, ...b])
    expect(told).toHaveLength(rounds * 40)
    expect(new Set(told.map((e) => e.seq)).size).toBe(told.length)
    for (const e of told) expect(bySeq.get(e.seq)).toMatchObject(e)
    // The writers really interleaved: neither wrote all of its events in one run.
    const ones = new Set(written.flatMap(({ a }) => a.map((e) => e.seq)))
    const switches = all.filter((e, i) => i > 0 && ones.has(e.seq) !== ones.has(all[i - 1]!.seq)).length
    expect(switches).toBeGreaterThan(2)
    expect(await two.head()).toMatchObject({ seq: all.length, hash: all.at(-1)!.hash })
    await Promise.all([one.close(), two.close()])
  })

  it('keeps the first seq of each reference in one hash and later ones in its list, and trims both', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const keys = await testKeys(clock)
    const p = prefix()
    const admin = client()
    const log = createRedisAuditLog({ clock, issuer: 'https://writ.test', signer: keys, redis: client(), keyPrefix: p, checkpointEverySeconds: 3600 })
    const issued = (grant: string, task: string) => log.append({ ...sampleEvents(1)[0]!, grant, task } as AuditEventInput)
    const a = await issued('G-a', 'T-old')
    const b = await issued('G-b', 'T-shared')
    const c = await issued('G-c', 'T-shared')
    const revoked = await log.append({ type: 'grant.revoked', actor: 'admin', scope: 'grant', grant: 'G-a', reason: 'done', count: 1 })
    await log.flush()
    // One hash field per reference; only a reference named twice has a list, of its later seqs.
    expect(await admin.hgetall(`${p}{audit}:first`)).toEqual({
      'g:G-a': String(a.seq), 'g:G-b': String(b.seq), 'g:G-c': String(c.seq), 't:T-old': String(a.seq), 't:T-shared': String(b.seq),
    })
    expect(await admin.exists(`${p}{audit}:i:g%3AG-b`, `${p}{audit}:i:g%3AG-c`, `${p}{audit}:i:t%3AT-old`)).toBe(0)
    expect(await admin.lrange(`${p}{audit}:i:g%3AG-a`, 0, -1)).toEqual([String(revoked.seq)])
    expect(await admin.lrange(`${p}{audit}:i:t%3AT-shared`, 0, -1)).toEqual([String(c.seq)])
    expect((await log.find({ grantId: 'G-a' })).map((e) => e.seq)).toEqual([a.seq, revoked.seq])
    expect((await log.find({ taskId: 'T-shared' })).map((e) => e.seq)).toEqual([b.seq, c.seq])
    expect((await log.find({ taskId: 'T-shared' }, { limit: 1 })).map((e) => e.seq)).toEqual([b.seq])
    // A list written before the hash existed holds a reference's first seq too: still found in order.
    await admin.hdel(`${p}{audit}:first`, 't:T-old')
    await admin.rpush(`${p}{audit}:i:t%3AT-old`, a.seq)
    const d = await issued('G-d', 'T-old')
    expect((await log.find({ taskId: 'T-old' })).map((e) => e.seq)).toEqual([a.seq, d.seq])
    // Trimming (after an export) drops the trimmed events' hash fields and list entries only.
    await exportAudit(log, { signer: keys, issuer: 'https://writ.test', clock, fromSeq: 1, limit: 100, destination: 'file:a' })
    const [exported] = await log.find({ exports: true })
    expect(await log.trim(c.seq, { exportedTo: 'file:a' })).toBe(2)
    expect(await admin.hgetall(`${p}{audit}:first`)).toEqual({
      'g:G-c': String(c.seq), 'g:G-d': String(d.seq), 't:T-old': String(d.seq), 'x:exports': String(exported!.seq),
    })
    expect(await admin.lrange(`${p}{audit}:i:t%3AT-old`, 0, -1)).toEqual([])
    expect(await admin.lrange(`${p}{audit}:i:t%3AT-shared`, 0, -1)).toEqual([String(c.seq)])
    expect((await log.find({ grantId: 'G-a' })).map((e) => e.seq)).toEqual([revoked.seq])
    expect((await log.find({ taskId: 'T-shared' })).map((e) => e.seq)).toEqual([c.seq])
    await log.close()
  })

  it('chains an event hashed ahead on the hash the chain really has, when another writer moved it', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const keys = await testKeys(clock)
    const p = prefix()
    const admin = client()
    const options = { clock, issuer: 'https://writ.test', signer: keys, keyPrefix: p, chainDelayMs: 10_000, checkpointEverySeconds: 3600 }
    const one = createRedisAuditLog({ ...options, redis: client() })
    const two = createRedisAuditLog({ ...options, redis: client() })
    const [e1, e2, e3] = sampleEvents(3)
    await one.append(e1!)
    await one.flush()
    // Taken in right after the head `one` knows: hashed ahead on that head's hash.
    const second = await one.append(e2!)
    // The stored head's hash is not the one `one` knows any more; `two` chains seq 2 on it.
    await admin.hset(`${p}{audit}:head`, 'hash', 'f'.repeat(64))
    await two.flush()
    // Hashed ahead on `one`'s own hash for seq 2, which the chain does not have.
    const third = await one.append(e3!)
    await one.flush()
    const [stored2, stored3] = await two.read({ fromSeq: second.seq, limit: 2 })
    // Seq 2 was chained on the other hash (so it is the first bad event a verifier names) ...
    expect(stored2!.hash).toBe(hashAuditEvent({ ...stored2!, prev: 'f'.repeat(64) }))
    expect(stored2!.hash).not.toBe(hashAuditEvent(stored2!))
    // ... and seq 3 on the hash seq 2 really has, not on the one `one` expected.
    expect(stored3!.seq).toBe(third.seq)
    expect(stored3!.prev).toBe(stored2!.hash)
    expect(stored3!.hash).toBe(hashAuditEvent(stored3!))
    await Promise.all([one.close(), two.close()])
  })

  it('retries a failing chain write once a second, not once per event, and chains all once it works', async () => {
    const server = await startRedis()
    try {
      const clock = manualClock(Date.UTC(2026, 0, 1))
      const keys = await testKeys(clock)
      const p = prefix()
      const admin = new Redis(server.url)
      admin.on('error', () => {})
      clients.push(admin)
      // Taking events in works, but every chain write fails: its stream key holds a string.
      await admin.set(`${p}{audit}:chain`, 'in the way')
      const log = createRedisAuditLog({
        clock, issuer: 'https://writ.test', signer: keys, redis: client(server.url), keyPrefix: p,
        batchMaxEvents: 2, chainDelayMs: 10_000, checkpointEverySeconds: 3600,
      })
      const chainCalls = async () => {
        const stats = await admin.info('commandstats')
        return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)
      }
      const before = await chainCalls()
      // 40 events, each making a full batch with what waits: without a backoff, 40 attempts.
      for (const event of sampleEvents(40)) {
        await log.append(event)
        await new Promise((r) => setTimeout(r, 10))
      }
      const attempts = (await chainCalls()) - before
      expect(attempts).toBeGreaterThanOrEqual(1)
      expect(attempts).toBeLessThanOrEqual(3)
      // Once the way is clear, everything taken in is chained.
      await admin.del(`${p}{audit}:chain`)
      const all = await log.read()
      expect(all.filter((e) => e.type !== 'audit.checkpoint')).toHaveLength(40)
      expect(await verifyChain(all.map((e) => JSON.stringify(e)), { keys: keys.jwks(), requireSeal: false })).toMatchObject({ ok: true })
      await log.close()
    } finally {
      await server.stop()
    }
  })

  it('fails appends with a 503 while Redis is down, then carries on the chain when it is back', async () => {
    const server = await startRedis()
    try {
      const clock = manualClock(Date.UTC(2026, 0, 1))
      const keys = await testKeys(clock)
      const log = createRedisAuditLog({ clock, issuer: 'https://writ.test', signer: keys, redis: client(server.url), keyPrefix: prefix() })
      const before = await log.append(sampleEvents(1)[0]!)
      server.pause()
      const err = await log.append(sampleEvents(1)[0]!).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 })
      server.resume()
      // The append that timed out may or may not have been written; the chain stays whole either way.
      const after = await log.append(sampleEvents(1)[0]!)
      expect(after.seq).toBeGreaterThan(before.seq)
      const all = await log.read()
      expect(await verifyChain(all.map((e) => JSON.stringify(e)), { keys: keys.jwks(), requireSeal: false })).toMatchObject({ ok: true })
      await log.close()
    } finally {
      await server.stop()
    }
  })
})
