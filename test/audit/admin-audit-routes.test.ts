import { serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import type { AuditEvent } from '../../src/audit/types.js'
import { verifyChain } from '../../src/audit/verify-chain.js'
import { manualClock } from '../../src/clock.js'
import { manifestSha256, parseManifestObject } from '../../src/manifest/index.js'
import { docsManifest, form, ISSUER, json, SECRETS } from '../helpers/broker.js'
import { freePort } from '../helpers/redis.js'
import { makeAuditBroker, testKeys, type AuditTestBroker } from './helpers.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
const readOnly = (task: string) => docsManifest({ task: { id: task }, grants: docsManifest().grants.slice(0, 1) })

let admin: { token: string; tokenHash: string }
let broker: AuditTestBroker
const mirrored: string[] = []

beforeAll(async () => {
  admin = await createAdminToken()
  broker = await makeAuditBroker({
    config: { admin: { tokenHash: admin.tokenHash }, audit: { checkpointEveryEvents: 5, stdout: true } },
    stdout: (line) => mirrored.push(line),
  })
})
afterAll(() => broker?.close())

const adminGet = (path: string, headers: Record<string, string> = {}) => broker.call('GET', path, { bearer: admin.token, headers })
const events = async (): Promise<AuditEvent[]> => {
  // The log's flush, not the auditor's: that would also note the coalesced counts it holds.
  await broker.audit.log!.flush()
  return (await (await adminGet('/admin/audit?limit=10000')).json()).events
}
const issue = async (task: string, who: [string, string] = A): Promise<string> => {
  const res = await broker.call('POST', '/v1/tokens', { ...json(readOnly(task)), basic: who })
  expect(res.status).toBe(200)
  return (await res.json()).grant_id
}

describe('what the broker audits', () => {
  it('records each issued token with the request and the policy decision before answering', async () => {
    const manifest = docsManifest({ task: { id: 'AUD-1', purpose: 'docs', requested_by: 'carol@example.com' } })
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    const { grant_id } = await res.json()
    const issued = (await events()).find((e) => e.type === 'grant.issued' && e.grant === grant_id)
    expect(issued).toMatchObject({
      actor: 'client:agent-a',
      client: 'agent-a',
      task: 'AUD-1',
      task_purpose: 'docs',
      requested_by: 'carol@example.com',
      manifest_sha256: manifestSha256(parseManifestObject(manifest)),
      rules: ['docs-read', 'docs-write'],
      authorization_details: manifest.grants,
    })
  })

  it('records refusals of authenticated clients, with the code and message they got', async () => {
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ task: { id: 'AUD-DENY' } })), basic: B })
    expect(res.status).toBe(403)
    const { error_description } = await res.json()
    expect((await events()).filter((e) => e.type === 'token.denied' && e.task === 'AUD-DENY')).toEqual([
      expect.objectContaining({ client: 'agent-b', reason: 'access_denied', message: error_description, manifest_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }),
    ])
  })

  it('records failed client authentications, coalesced, and never the secret tried', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await broker.call('POST', '/oauth/token', { ...form({ grant_type: 'client_credentials', client_id: 'agent-b', client_secret: 'guess-123' }) })
      expect(res.status).toBe(401)
    }
    expect((await broker.call('POST', '/v1/tokens', { ...json(readOnly('X')), basic: ['nobody', 'guess-456'] })).status).toBe(401)
    let failed = (await events()).filter((e) => e.type === 'client.auth_failed')
    expect(failed).toEqual([
      expect.objectContaining({ client: 'agent-b', count: 1, reason: 'client agent-b: wrong secret' }),
      expect.objectContaining({ client: 'nobody', count: 1, reason: 'unknown client "nobody"' }),
    ])
    // Once the window is over, the next failure notes the count held back first.
    broker.clock.advance(61_000)
    await broker.call('POST', '/oauth/token', { ...form({ grant_type: 'client_credentials', client_id: 'agent-b', client_secret: 'guess-789' }) })
    failed = (await events()).filter((e) => e.type === 'client.auth_failed')
    expect(failed.slice(2)).toEqual([
      expect.objectContaining({ client: 'agent-b', count: 2 }),
      expect.objectContaining({ client: 'agent-b', count: 1 }),
    ])
    expect(JSON.stringify(await events())).not.toMatch(/guess-/)
  })

  it('records revocations by a client (RFC 7009) and by the admin, with scope, reason and count', async () => {
    const token = (await (await broker.call('POST', '/v1/tokens', { ...json(readOnly('AUD-REV')), basic: A })).json()).access_token
    await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })
    await issue('AUD-REV-2')
    await issue('AUD-REV-2')
    const res = await broker.call('POST', '/admin/revocations', { ...json({ task_id: 'AUD-REV-2', reason: 'task cancelled' }), bearer: admin.token })
    expect(await res.json()).toEqual({ revoked: 2, descendants_revoked: 0, approvals_revoked: 0 })
    const log = await events()
    expect(log.filter((e) => e.type === 'grant.revoked' && (e.task === 'AUD-REV' || e.task === 'AUD-REV-2'))).toEqual([
      expect.objectContaining({ actor: 'client:agent-a', scope: 'grant', client: 'agent-a', task: 'AUD-REV', count: 1 }),
      expect.objectContaining({ actor: 'admin', scope: 'task', task: 'AUD-REV-2', reason: 'task cancelled', count: 2 }),
    ])
    expect(log.filter((e) => e.type === 'admin.action').at(-1)).toMatchObject({ method: 'POST', path: '/admin/revocations', status: 200 })
  })

  it('records refused admin tokens', async () => {
    expect((await broker.call('GET', '/admin/audit', { bearer: 'wrong-token' })).status).toBe(401)
    expect((await broker.call('POST', '/admin/revocations', { ...json({ all: true, reason: 'x' }) })).status).toBe(401)
    const failed = (await events()).filter((e) => e.type === 'admin.auth_failed')
    expect(failed[0]).toMatchObject({ path: '/admin/audit', reason: 'wrong or malformed admin token', count: 1 })
  })

  it('records wrong admin tokens refused unchecked (429) as refusals, never as admin actions', async () => {
    const proxied = await makeAuditBroker({ config: { admin: { tokenHash: admin.tokenHash }, limits: { adminAuthFailureBurst: 1 } } })
    // Over TCP: the per-address budget counts requests by the address they came from.
    const port = await freePort()
    const server = serve({ fetch: proxied.app.fetch, port, hostname: '127.0.0.1' })
    await new Promise((r) => server.once('listening', r))
    try {
      const revokeAll = (token: string) =>
        fetch(`http://127.0.0.1:${port}/admin/revocations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ all: true, reason: 'flood' }),
        })
      expect((await revokeAll('guess-1')).status).toBe(401)
      for (let i = 2; i < 5; i++) expect((await revokeAll(`guess-${i}`)).status).toBe(429)
      // The coalesced counts are noted now, not at the end of the window.
      await proxied.audit.flush()
      const log = await proxied.audit.log!.read({ limit: 1000 })
      expect(log.filter((e) => e.type === 'admin.action')).toEqual([])
      expect(log.filter((e) => e.type === 'admin.auth_failed').map((e) => [e.reason, e.count])).toEqual([
        ['wrong or malformed admin token', 1],
        ['admin token not checked: too many wrong tokens from this address', 1],
        ['admin token not checked: too many wrong tokens from this address', 2],
      ])
    } finally {
      await new Promise((r) => server.close(r))
      await proxied.close()
    }
  })

  it('mirrors every event to stdout as one JSON line, when configured', async () => {
    const log = await events()
    const written = mirrored.map((l) => JSON.parse(l) as AuditEvent)
    expect(written.length).toBeGreaterThan(5)
    for (const e of written) expect(log.find((f) => f.seq === e.seq)).toEqual(e)
  })
})

describe('GET /admin/audit', () => {
  it('answers JSON with a seal over the page, and where to continue', async () => {
    const head = (await events()).at(-1)!
    const res = await adminGet('/admin/audit?since=2&limit=3')
    const body = await res.json()
    expect(body.events.map((e: AuditEvent) => e.seq)).toEqual([2, 3, 4])
    expect(body).toMatchObject({ next_since: 5, more: true, seal: expect.any(String) })
    expect(body.head.seq).toBeGreaterThanOrEqual(head.seq)
    expect(res.headers.get('x-audit-next-since')).toBe('5')
    const lines = [...body.events.map((e: AuditEvent) => JSON.stringify(e)), JSON.stringify({ type: 'audit.seal', seal: body.seal })]
    const jwks = await (await broker.call('GET', '/.well-known/jwks.json')).json()
    expect(await verifyChain(lines, { keys: jwks, issuer: ISSUER, requireSeal: false })).toMatchObject({ ok: true, sealed: true, complete: false })
    // A page that is not the export's last one does not pass for a whole export.
    expect((await verifyChain(lines, { keys: jwks, issuer: ISSUER })).problem).toMatchObject({ reason: expect.stringMatching(/the last page of the export is missing/) })
  })

  it('exports JSON Lines that verify against the JWKS, and records the export', async () => {
    const res = await adminGet('/admin/audit?format=jsonl&limit=10000')
    expect(res.headers.get('content-type')).toBe('application/x-ndjson')
    const text = await res.text()
    const jwks = await (await broker.call('GET', '/.well-known/jwks.json')).json()
    const result = await verifyChain(text, { keys: jwks, issuer: ISSUER })
    expect(result).toMatchObject({ ok: true, sealed: true, firstSeq: 1 })
    const exported = (await events()).filter((e) => e.type === 'audit.exported').at(-1)
    expect(exported).toMatchObject({ from_seq: 1, to_seq: result.lastSeq, to_hash: result.lastHash })
    // The Accept header asks for the same.
    const viaAccept = await adminGet('/admin/audit?limit=1', { accept: 'application/x-ndjson' })
    expect(viaAccept.headers.get('content-type')).toBe('application/x-ndjson')
  })

  it('exports a log that spans rotations, which verifies with only the newest key, through the signed rotations', async () => {
    const firstKid = broker.keys.signingKey().kid
    await issue('ROT-0')
    for (let i = 1; i <= 3; i++) {
      // Each rotation waits until the previous key has verified its last token (max TTL + grace).
      if (i > 1) broker.clock.advance(2 * 3600_000)
      expect((await broker.call('POST', '/admin/keys/rotate', { ...json({}), bearer: admin.token })).status).toBe(200)
      await issue(`ROT-${i}`)
    }
    await broker.audit.log!.flush()
    const res = await adminGet('/admin/audit?format=jsonl&limit=10000')
    expect(res.status).toBe(200)
    const text = await res.text()
    const current = broker.keys.signingKey().kid
    const jwks = (await (await broker.call('GET', '/.well-known/jwks.json')).json()) as { keys: Array<{ kid: string }> }
    // The first key is long gone from the JWKS; the chain's own rotations lead back to it.
    expect(jwks.keys.some((k) => k.kid === firstKid)).toBe(false)
    const result = await verifyChain(text, { keys: jwks.keys.filter((k) => k.kid === current) as never, issuer: ISSUER })
    expect(result).toMatchObject({ ok: true, sealed: true })
    expect(result.keys.find((k) => k.kid === firstKid)).toMatchObject({ why: expect.stringMatching(/^named as its predecessor by trusted key/) })
    const rotated = text.split('\n').filter((l) => l.includes('"type":"key.rotated"')).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(rotated.at(-1)).toMatchObject({ kid: current, jwk: { kid: current }, announcement: expect.any(String), handover: expect.any(String) })
    // A page from the middle of the log holds checkpoints by keys its own lines do not lead to:
    // the broker follows the key history before the page (its index of rotations) to seal it.
    const checkpoints = text.split('\n').filter((l) => l.includes('"type":"audit.checkpoint"')).map((l) => JSON.parse(l) as { seq: number })
    expect(checkpoints.length).toBeGreaterThan(3)
    for (const { seq } of checkpoints) {
      expect((await adminGet(`/admin/audit?since=${seq}&limit=1`)).status, `a page of checkpoint ${seq} alone`).toBe(200)
    }
  })

  it('starts at the first event at or after an RFC 3339 time', async () => {
    const all = await events()
    const target = all[Math.floor(all.length / 2)]!
    const body = await (await adminGet(`/admin/audit?since=${encodeURIComponent(target.time)}&limit=1`)).json()
    expect(Date.parse(body.events[0].time)).toBeGreaterThanOrEqual(Date.parse(target.time))
    expect(body.events[0].seq).toBeLessThanOrEqual(target.seq)
    const later = await (await adminGet(`/admin/audit?since=2999-01-01T00:00:00Z`)).json()
    expect(later).toMatchObject({ events: [], seal: null, more: false })
  })

  it('refuses bad parameters with a 400 naming them', async () => {
    const cases: Array<[string, RegExp]> = [
      ['?since=yesterday', /^since: expected a seq/],
      ['?since=0', /^since/],
      ['?since=99999999999999999', /^since/],
      ['?limit=0', /^limit/],
      ['?limit=10001', /^limit/],
      ['?limit=1e3', /^limit/],
      ['?format=xml', /^format/],
      ['?since=1&since=2', /^since: must not be repeated/],
      ['?color=red', /color/],
    ]
    for (const [query, message] of cases) {
      const res = await adminGet(`/admin/audit${query}`)
      expect(res.status, query).toBe(400)
      expect((await res.json()).error_description, query).toMatch(message)
    }
  })

  it('needs the admin token', async () => {
    const res = await broker.call('GET', '/admin/audit')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="writ"/)
    expect((await broker.call('GET', '/admin/audit/story?grant=x', { bearer: 'nope' })).status).toBe(401)
    expect((await broker.call('POST', '/admin/audit/trim', { ...json({ before_seq: 2, exported_to: 'x' }) })).status).toBe(401)
  })
})

describe('GET /admin/audit/story', () => {
  it('tells a grant from issuance to the revocation that ended it, including a client-wide one', async () => {
    const first = await issue('STORY-1', B)
    const second = await issue('STORY-1', B)
    const token = (await (await broker.call('POST', '/v1/tokens', { ...json(readOnly('STORY-2')), basic: B })).json()).access_token
    await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: B })
    await broker.call('POST', '/admin/revocations', { ...json({ grant_id: first, reason: 'first done' }), bearer: admin.token })
    await broker.call('POST', '/admin/revocations', { ...json({ client_id: 'agent-b', reason: 'key leaked' }), bearer: admin.token })
    const story = async (query: string) => (await (await adminGet(`/admin/audit/story?${query}`)).json()).events as AuditEvent[]

    const one = await story(`grant=${first}`)
    expect(one.map((e) => e.type)).toEqual(['grant.issued', 'grant.revoked'])
    expect(one[1]).toMatchObject({ scope: 'grant', reason: 'first done' })
    const two = await story(`grant=${second}`)
    expect(two.map((e) => e.type)).toEqual(['grant.issued', 'grant.revoked'])
    expect(two[1]).toMatchObject({ scope: 'client', client: 'agent-b', reason: 'key leaked' })
    const task = await story('task=STORY-1')
    expect(task.map((e) => [e.type, 'grant' in e ? e.grant : e.type === 'grant.revoked' ? e.scope : undefined])).toEqual([
      ['grant.issued', first],
      ['grant.issued', second],
      ['grant.revoked', first],
      ['grant.revoked', 'client'],
    ])
    expect(task.map((e) => e.seq)).toEqual([...task.map((e) => e.seq)].sort((a, b) => a - b))
    expect(await story('grant=unknown')).toEqual([])
  })

  it('needs exactly one of grant and task', async () => {
    for (const query of ['', '?grant=a&task=b', '?grant=', `?task=${'x'.repeat(129)}`, '?grant=a&grant=b']) {
      const res = await adminGet(`/admin/audit/story${query}`)
      expect(res.status, query).toBe(400)
    }
  })
})

describe('POST /admin/audit/trim', () => {
  it('removes only what a JSON Lines export covered, and records it', async () => {
    const fresh = await makeAuditBroker({ config: { admin: { tokenHash: admin.tokenHash } } })
    try {
      const call = (body: unknown) => fresh.call('POST', '/admin/audit/trim', { ...json(body), bearer: admin.token })
      for (let i = 0; i < 6; i++) await fresh.call('POST', '/v1/tokens', { ...json(readOnly(`TRIM-${i}`)), basic: A })
      const refused = await call({ before_seq: 4, exported_to: 's3://archive/writ.jsonl' })
      expect(refused.status).toBe(400)
      expect((await refused.json()).error_description).toMatch(/before_seq: events 1 to 3 have not all been exported/)
      await fresh.call('GET', '/admin/audit?format=jsonl&limit=5', { bearer: admin.token })
      const res = await call({ before_seq: 4, exported_to: 's3://archive/writ.jsonl' })
      expect(await res.json()).toEqual({ trimmed: 3 })
      const body = await (await fresh.call('GET', '/admin/audit', { bearer: admin.token })).json()
      expect(body.events[0].seq).toBe(4)
      expect(body.events.find((e: AuditEvent) => e.type === 'audit.trimmed')).toMatchObject({ before_seq: 4, exported_to: 's3://archive/writ.jsonl', actor: 'admin' })
    } finally {
      await fresh.close()
    }
  })

  it('refuses a bad body with a 400 naming the field', async () => {
    const cases: Array<[RequestInit, RegExp]> = [
      [json({ before_seq: 0, exported_to: 'x' }), /^before_seq/],
      [json({ before_seq: '3', exported_to: 'x' }), /^before_seq/],
      [json({ before_seq: 3 }), /^exported_to: required/],
      [json({ before_seq: 3, exported_to: '   ' }), /^exported_to/],
      [json({ before_seq: 3, exported_to: 'x', extra: 1 }), /extra/],
      [json([1]), /^body: expected a JSON object/],
      [{ headers: { 'content-type': 'application/json' }, body: '{"before_seq":' }, /not valid JSON/],
      [form({ before_seq: '3' }), /content-type must be application\/json/],
      [json({ before_seq: 1_000_000, exported_to: 'x' }), /^before_seq: must be at most/],
    ]
    for (const [init, message] of cases) {
      const res = await broker.call('POST', '/admin/audit/trim', { ...init, bearer: admin.token })
      expect(res.status, String(init.body)).toBe(400)
      expect((await res.json()).error_description, String(init.body)).toMatch(message)
    }
  })
})

describe('when the audit log cannot be written', () => {
  it('issues no token (503), leaves no live grant, and still refuses, revokes and answers', async () => {
    const clock = manualClock()
    const log = createMemoryAuditLog({ clock, issuer: ISSUER, signer: await testKeys(clock) })
    const down = await makeAuditBroker({ config: { admin: { tokenHash: admin.tokenHash } }, auditLog: log })
    try {
      await log.close()
      const res = await down.call('POST', '/v1/tokens', { ...json(readOnly('DOWN-1')), basic: A })
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('2')
      const body = await res.json()
      expect(body).toEqual({ error: 'temporarily_unavailable', error_description: 'the audit log is unavailable; retry shortly' })
      expect(await down.store.grants.countLiveGrants('agent-a')).toBe(0)
      expect(await down.store.grants.listGrants({ clientId: 'agent-a' })).toEqual([])
      const oauth = await down.call('POST', '/oauth/token', {
        ...form({ grant_type: 'client_credentials', task_id: 'DOWN-2', authorization_details: JSON.stringify(readOnly('x').grants) }),
        basic: A,
      })
      expect(oauth.status).toBe(503)
      // What removes or refuses privilege is never held back by the audit log.
      expect((await down.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: B })).status).toBe(403)
      expect((await down.call('POST', '/admin/revocations', { ...json({ all: true, reason: 'drill' }), bearer: admin.token })).status).toBe(200)
    } finally {
      await down.close()
    }
  })

  it('closes a grant the store refused with grant.voided, and issues no token for it', async () => {
    const quota = await makeAuditBroker({ config: { admin: { tokenHash: admin.tokenHash } }, maxLiveGrants: 1 })
    try {
      expect((await quota.call('POST', '/v1/tokens', { ...json(readOnly('Q-1')), basic: A })).status).toBe(200)
      const refused = await quota.call('POST', '/v1/tokens', { ...json(readOnly('Q-1')), basic: A })
      expect(refused.status).toBe(429)
      const { error_description } = await refused.json()
      const log = await (await quota.call('GET', '/admin/audit/story?task=Q-1', { bearer: admin.token })).json()
      const types = log.events.map((e: AuditEvent) => e.type)
      expect(types).toEqual(['grant.issued', 'grant.issued', 'grant.voided'])
      expect(log.events[2]).toMatchObject({ grant: log.events[1].grant, reason: 'quota_exceeded', message: error_description })
      expect(await quota.store.grants.countLiveGrants('agent-a')).toBe(1)
    } finally {
      await quota.close()
    }
  })

  it('answers 404 on the audit routes when auditing is off, and issues as before', async () => {
    const off = await makeAuditBroker({ config: { admin: { tokenHash: admin.tokenHash }, audit: { enabled: false } } })
    try {
      expect((await off.call('POST', '/v1/tokens', { ...json(readOnly('OFF-1')), basic: A })).status).toBe(200)
      const res = await off.call('GET', '/admin/audit', { bearer: admin.token })
      expect(res.status).toBe(404)
      expect((await res.json()).error_description).toMatch(/auditing is off/)
      expect((await off.call('GET', '/admin/audit/story?task=OFF-1', { bearer: admin.token })).status).toBe(404)
    } finally {
      await off.close()
    }
  })
})
