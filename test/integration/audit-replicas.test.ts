import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import type { AuditEvent } from '../../src/audit/types.js'
import { sealDigest, verifyChain } from '../../src/audit/verify-chain.js'
import { docsManifest, form, ISSUER, json, SECRETS } from '../helpers/broker.js'
import { makeAuditBroker, type AuditTestBroker } from '../audit/helpers.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
const prefix = `writ-audit-replicas-${randomBytes(4).toString('hex')}:`
const readOnly = (task: string) => docsManifest({ task: { id: task }, grants: docsManifest().grants.slice(0, 1) })

let admin: { token: string; tokenHash: string }
let one: AuditTestBroker
let two: AuditTestBroker
const wrote = { one: [] as string[], two: [] as string[] }

beforeAll(async () => {
  admin = await createAdminToken()
  const config = {
    store: { kind: 'redis' as const, redisUrl: REDIS_URL, keyPrefix: prefix },
    keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
    admin: { tokenHash: admin.tokenHash },
    audit: { checkpointEveryEvents: 10, stdout: true },
  }
  ;[one, two] = await Promise.all([
    makeAuditBroker({ config, stdout: (line) => wrote.one.push(line) }),
    makeAuditBroker({ config, stdout: (line) => wrote.two.push(line) }),
  ])
})
afterAll(async () => {
  await one?.close()
  await two?.close()
  const { Redis } = await import('ioredis')
  const redis = new Redis(REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

/** One replica's share of a mixed workload; `other` revokes what this one issued. */
async function workload(self: AuditTestBroker, other: AuditTestBroker, tag: string): Promise<string[]> {
  const issued = await Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const res =
        i % 3 === 0
          ? await self.call('POST', '/oauth/token', {
              ...form({ grant_type: 'client_credentials', task_id: `${tag}-${i % 4}`, authorization_details: JSON.stringify(readOnly('x').grants) }),
              basic: B,
            })
          : await self.call('POST', '/v1/tokens', { ...json(readOnly(`${tag}-${i % 4}`)), basic: A })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { access_token: string; grant_id: string }
      return { ...body, client: i % 3 === 0 ? B : A }
    }),
  )
  await Promise.all([
    ...Array.from({ length: 4 }, () =>
      self.call('POST', '/v1/tokens', { ...json(docsManifest({ task: { id: `${tag}-deny` } })), basic: B }).then((r) => expect(r.status).toBe(403)),
    ),
    ...Array.from({ length: 3 }, () => self.call('POST', '/v1/tokens', { ...json(readOnly('x')), basic: ['agent-a', 'wrong'] })),
    ...issued.slice(0, 4).map(({ access_token, client }) =>
      other.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: client }).then((r) => expect(r.status).toBe(200)),
    ),
    self.call('POST', '/admin/revocations', { ...json({ task_id: `${tag}-3`, reason: 'cancelled' }), bearer: admin.token }),
  ])
  return issued.map((t) => t.grant_id)
}

describe('the audit log with two broker replicas on one Redis', () => {
  it('stays one verifiable chain after a mixed workload on both at once', async () => {
    const [fromOne, fromTwo] = await Promise.all([workload(one, two, 'R1'), workload(two, one, 'R2')])
    await Promise.all([one.audit.flush(), two.audit.flush()])

    // Export page by page from one replica, as `writ audit export` does, and verify the whole.
    const lines: string[] = []
    let since = 1
    let prevSeal = ''
    for (;;) {
      const query = since === 1 ? '' : `&since=${since}${prevSeal}`
      const res = await two.call('GET', `/admin/audit?format=jsonl&limit=40${query}`, { bearer: admin.token })
      const text = await res.text()
      if (!text) break
      lines.push(...text.trimEnd().split('\n'))
      // Each page names the seal of the one before, as `writ audit export` asks.
      prevSeal = `&prev_seal=${sealDigest((JSON.parse(lines.at(-1)!) as { seal: string }).seal)}`
      since = Number(res.headers.get('x-audit-next-since'))
      if (res.headers.get('x-audit-more') !== 'true') break
    }
    const jwks = await (await one.call('GET', '/.well-known/jwks.json')).json()
    const result = await verifyChain(lines, { keys: jwks, issuer: ISSUER })
    expect(result).toMatchObject({ ok: true, sealed: true, firstSeq: 1, complete: true })
    // A checkpoint after every 10 events, whichever replica wrote them.
    expect(result.checkpoints).toBeGreaterThanOrEqual(Math.floor(result.events / 11))

    const events = lines.map((l) => JSON.parse(l) as { type: string; seq: number }).filter((e) => e.type !== 'audit.seal') as AuditEvent[]
    const issued = events.filter((e) => e.type === 'grant.issued').map((e) => (e as { grant: string }).grant)
    expect(issued.sort()).toEqual([...fromOne, ...fromTwo].sort())
    expect(events.filter((e) => e.type === 'token.denied')).toHaveLength(8)
    expect(events.filter((e) => e.type === 'grant.revoked' && (e as { scope: string }).scope === 'grant')).toHaveLength(8)
    expect(events.filter((e) => e.type === 'grant.revoked' && (e as { scope: string }).scope === 'task')).toHaveLength(2)
    expect(events.filter((e) => e.type === 'client.auth_failed').length).toBeGreaterThanOrEqual(2)

    // Both replicas appended, interleaved, into the one chain.
    const byOne = new Set(wrote.one.map((l) => (JSON.parse(l) as AuditEvent).seq))
    const byTwo = new Set(wrote.two.map((l) => (JSON.parse(l) as AuditEvent).seq))
    expect(byOne.size).toBeGreaterThan(10)
    expect(byTwo.size).toBeGreaterThan(10)
    expect([...byOne].some((seq) => byTwo.has(seq))).toBe(false)
    const seqs = events.map((e) => e.seq).filter((s) => byOne.has(s) || byTwo.has(s))
    const switches = seqs.filter((s, i) => i > 0 && byOne.has(s) !== byOne.has(seqs[i - 1]!)).length
    expect(switches).toBeGreaterThan(2)
  })
})
