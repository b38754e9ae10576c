import { generateKeyPairSync, randomBytes, sign as signWith } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { Redis } from 'ioredis'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { chainHash } from '../../src/audit/hash-audit-event.js'
import { SEAL_TYP, signAuditJws } from '../../src/audit/sign-audit-jws.js'
import { hashAuditEvent } from '../../src/audit/hash-audit-event.js'
import { sealDigest, verifyChain } from '../../src/audit/verify-chain.js'
import { createBroker, type Broker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { canonicalize } from '../../src/manifest/canonicalize.js'
import { docsManifest, SECRETS, testPolicyText } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { freePort, deleteKeysWithPrefix } from '../helpers/redis.js'

// A broker on real Redis reached over HTTP, and the built CLI. The attacker is this test with write
// access to the broker's Redis (no KEK, no admin token): it deletes a `grant.issued` event from the
// stream, re-hashes everything after it and re-signs every checkpoint with its own key, which it
// embeds in them, exactly as a store writer could.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-audit-tamper-'))
const prefix = `writ-cli-audit-tamper-${randomBytes(4).toString('hex')}:`
let broker: Broker
let server: ServerType
let url: string
let env: Record<string, string>
let redis: Redis
const errors: string[] = []

beforeAll(async () => {
  const admin = await createAdminToken()
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error(message: string, fields?: Record<string, unknown>) {
      errors.push(`${message} ${JSON.stringify(fields ?? {})}`)
    },
  }
  broker = await createBroker(
    parseConfig({
      issuer: url,
      devMode: true,
      store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
      admin: { bootstrap: false, tokenHash: admin.tokenHash },
      audit: { checkpointEveryEvents: 3 },
    }),
    { logger: logger as never, policyText: (await testPolicyText()) },
  )
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  env = { WRIT_URL: url, WRIT_ADMIN_TOKEN: admin.token }
  redis = new Redis(REDIS_URL)
  const basic = `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`
  for (let i = 0; i < 7; i++) {
    const manifest = docsManifest({ task: { id: `TAMPER-${i}` }, grants: docsManifest().grants.slice(0, 1) })
    const res = await fetch(`${url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify(manifest),
    })
    expect(res.status).toBe(200)
  }
  await broker.audit.log!.flush()
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await broker?.close()
  await deleteKeysWithPrefix(redis, prefix)
  await redis.quit()
  rmSync(dir, { recursive: true, force: true })
})

/** The attack, on Redis: returns the rewritten log as the store now holds it (events with seq, prev, hash). */
async function rewriteHistory(): Promise<{ events: Array<Record<string, unknown>>; attackerKid: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' }) as JWK
  const kid = await calculateJwkThumbprint(jwk, 'sha256')
  const sign = (payload: object): string => {
    const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'writ-audit-checkpoint+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
    return `${input}.${signWith('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }
  const logKey = `${prefix}{audit}:log`
  const entries = await redis.xrange(logKey, '-', '+')
  const bodies = entries.map(([, fields]) => fields[1]!)
  // Ensure there is something worth hiding: the first grant.issued goes.
  const victim = bodies.findIndex((b) => (JSON.parse(b) as { type: string }).type === 'grant.issued')
  expect(victim).toBeGreaterThanOrEqual(0)
  bodies.splice(victim, 1)
  const events: Array<Record<string, unknown>> = []
  const hashes: string[] = []
  let prev = '0'.repeat(64)
  let lastCheckpoint = 0
  for (const [i, original] of bodies.entries()) {
    const seq = i + 1
    let body = original
    const parsed = JSON.parse(body) as Record<string, unknown>
    if (parsed.type === 'audit.checkpoint') {
      // Re-signed over the event before it, with the attacker's key embedded.
      parsed.checkpoint = sign({ iss: url, seq: seq - 1, hash: prev, iat: 1 })
      parsed.jwk = { ...jwk, kid, alg: 'ES256', use: 'sig' }
      body = canonicalize(parsed)
      lastCheckpoint = seq
    }
    const hash = chainHash(prev, seq, body)
    events.push({ ...(JSON.parse(body) as object), seq, prev, hash })
    hashes.push(hash)
    prev = hash
  }
  await redis.del(logKey, `${prefix}{audit}:chain`)
  for (const [i, body] of bodies.entries()) await redis.xadd(logKey, `0-${i + 1}`, 'e', body)
  await redis.xadd(`${prefix}{audit}:chain`, `0-${bodies.length}`, 'f', '1', 'h', hashes.join(''))
  await redis.hset(`${prefix}{audit}:head`, 'seq', bodies.length, 'hash', prev, 'cps', lastCheckpoint, 'cvs', lastCheckpoint - 1, 'cpt', Date.now())
  return { events, attackerKid: kid }
}

async function issue(count: number, task: string): Promise<void> {
  const basic = `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`
  for (let i = 0; i < count; i++) {
    const manifest = docsManifest({ task: { id: `${task}-${i}` }, grants: docsManifest().grants.slice(0, 1) })
    const res = await fetch(`${url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify(manifest),
    })
    expect(res.status).toBe(200)
  }
  await broker.audit.log!.flush()
}

/** An export fetched page by page as `writ audit export` does, with small pages: one string per page. */
async function pagedExport(limit: number): Promise<string[]> {
  const pages: string[] = []
  let query = ''
  for (;;) {
    const res = await fetch(`${url}/admin/audit?format=jsonl&limit=${limit}${query}`, { headers: { authorization: `Bearer ${env.WRIT_ADMIN_TOKEN}` } })
    expect(res.status).toBe(200)
    const text = await res.text()
    pages.push(text)
    const seal = JSON.parse(text.trimEnd().split('\n').at(-1)!) as { seal: string }
    if (res.headers.get('x-audit-more') !== 'true') return pages
    query = `&since=${res.headers.get('x-audit-next-since')}&prev_seal=${sealDigest(seal.seal)}`
  }
}

describe('writ audit verify on exports cut at either end, or continued', () => {
  it('accepts a whole paged export and names which end is missing when a first or last page is dropped', async () => {
    const jwksFile = join(dir, 'jwks-pages.json')
    writeFileSync(jwksFile, JSON.stringify(await (await fetch(`${url}/.well-known/jwks.json`)).json()))
    const pages = await pagedExport(4)
    expect(pages.length).toBeGreaterThanOrEqual(3)
    const file = (name: string, parts: string[]): string => {
      const path = join(dir, name)
      writeFileSync(path, parts.join(''))
      return path
    }
    const whole = await runCli(['audit', 'verify', file('whole.jsonl', pages), '--jwks', jwksFile], env)
    expect(whole.code, whole.stderr).toBe(0)
    expect(whole.stdout).toMatch(new RegExp(`sealed \\(${pages.length} pages, the last one included\\)\nstarts at: seq 1, the start of the log\ntrusted key \\S+: in --jwks `))
    const noFirst = await runCli(['audit', 'verify', file('no-first.jsonl', pages.slice(1)), '--jwks', jwksFile], env)
    expect(noFirst.code).toBe(1)
    expect(noFirst.stderr).toMatch(/line 1: the page before this one is missing: .*the first page was cut off/)
    const noLast = await runCli(['audit', 'verify', file('no-last.jsonl', pages.slice(0, -1)), '--jwks', jwksFile], env)
    expect(noLast.code).toBe(1)
    expect(noLast.stderr).toMatch(/the last page of the export is missing: the final seal says more events followed seq \d+/)
  })

  it('ends at once on a crafted export whose self-signed checkpoint claims seq 2^50', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' }) as JWK
    const kid = await calculateJwkThumbprint(jwk, 'sha256')
    const big = 2 ** 50
    const event: Record<string, unknown> = { type: 'admin.action', actor: 'admin', method: 'POST', path: '/x', status: 200, time: '2026-01-01T00:00:00.000Z', seq: big, prev: 'a'.repeat(64) }
    event.hash = hashAuditEvent(event as { seq: number; prev: string })
    const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'writ-audit-checkpoint+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: url, seq: big, hash: event.hash, iat: 1 })).toString('base64url')}`
    const jws = `${input}.${signWith('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    const checkpoint: Record<string, unknown> = { type: 'audit.checkpoint', actor: 'system', checkpoint: jws, jwk: { ...jwk, kid }, time: '2026-01-01T00:00:00.000Z', seq: big + 1, prev: event.hash }
    checkpoint.hash = hashAuditEvent(checkpoint as { seq: number; prev: string })
    const crafted = join(dir, 'crafted.jsonl')
    writeFileSync(crafted, `${JSON.stringify(event)}\n${JSON.stringify(checkpoint)}\n`)
    // Even with the attacker's key handed over as trusted, the verification returns.
    const keysFile = join(dir, 'attacker-jwks.json')
    writeFileSync(keysFile, JSON.stringify({ keys: [{ ...jwk, kid }] }))
    const result = await runCli(['audit', 'verify', crafted, '--jwks', keysFile], env)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/no export seal after the last event/)
  })

  it('--after accepts an export that continues an earlier one, and refuses a gap', async () => {
    const jwksFile = join(dir, 'jwks-after.json')
    writeFileSync(jwksFile, JSON.stringify(await (await fetch(`${url}/.well-known/jwks.json`)).json()))
    const first = join(dir, 'first.jsonl')
    expect((await runCli(['audit', 'export', '--out', first], env)).code).toBe(0)
    const lastSeq = (JSON.parse(readFileSync(first, 'utf8').trimEnd().split('\n').at(-2)!) as { seq: number }).seq
    await issue(3, 'AFTER')
    const next = join(dir, 'next.jsonl')
    expect((await runCli(['audit', 'export', '--since', String(lastSeq + 1), '--out', next], env)).code).toBe(0)
    const ok = await runCli(['audit', 'verify', next, '--after', first, '--jwks', jwksFile], env)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(new RegExp(`starts at: continues the earlier export, which ends at seq ${lastSeq}`))
    // Alone, its start is not proven.
    expect((await runCli(['audit', 'verify', next, '--jwks', jwksFile], env)).stdout).toMatch(/starts at: seq \d+, an export from --since \(nothing proves what came before\)/)
    const gap = join(dir, 'gap.jsonl')
    expect((await runCli(['audit', 'export', '--since', String(lastSeq + 3), '--out', gap], env)).code).toBe(0)
    const refused = await runCli(['audit', 'verify', gap, '--after', first, '--jwks', jwksFile], env)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(new RegExp(`the earlier export ends at seq ${lastSeq} but this one starts at seq ${lastSeq + 3}: event\\(s\\) ${lastSeq + 1} to ${lastSeq + 2} are in neither \\(a gap\\)`))
    // Where two exports overlap, they must hold the same chain: a different hash at the earlier
    // export's last seq is refused.
    const overlap = join(dir, 'overlap.jsonl')
    expect((await runCli(['audit', 'export', '--since', String(lastSeq - 1), '--out', overlap], env)).code).toBe(0)
    expect((await runCli(['audit', 'verify', overlap, '--after', first, '--jwks', jwksFile], env)).code).toBe(0)
    const mismatch = await verifyChain(readFileSync(overlap, 'utf8'), { keys: JSON.parse(readFileSync(jwksFile, 'utf8')) as { keys: JWK[] }, after: { lastSeq, lastHash: 'f'.repeat(64) } })
    expect(mismatch.problem).toMatchObject({ seq: lastSeq, reason: expect.stringMatching(/the two exports disagree where they overlap/) })
  })
})

describe('audit history rewritten by a Redis writer', () => {
  it('is refused by verify (naming the first checkpoint by an untrusted key), and the broker will not seal it', async () => {
    const jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, JSON.stringify(await (await fetch(`${url}/.well-known/jwks.json`)).json()))
    const genuine = join(dir, 'genuine.jsonl')
    const before = await runCli(['audit', 'export', '--out', genuine], env)
    expect(before.code, before.stderr).toBe(0)
    expect((await runCli(['audit', 'verify', genuine, '--jwks', jwksFile], env)).code).toBe(0)

    const { events, attackerKid } = await rewriteHistory()

    // (a) An export of the rewritten log sealed by the broker's own key, as a broker that seals
    // whatever Redis holds would: verify fails at the first checkpoint the attacker signed.
    const last = events.at(-1)!
    const { jws } = signAuditJws(broker.keys, SEAL_TYP, {
      iss: url,
      first_seq: 1,
      first_prev: '0'.repeat(64),
      last_seq: last.seq,
      last_hash: last.hash,
      count: events.length,
      iat: 1,
    })
    const forged = join(dir, 'forged.jsonl')
    writeFileSync(forged, [...events.map((e) => JSON.stringify(e)), JSON.stringify({ type: 'audit.seal', seal: jws })].join('\n') + '\n')
    const firstForged = events.findIndex((e) => e.type === 'audit.checkpoint') + 1
    const verified = await runCli(['audit', 'verify', forged, '--jwks', jwksFile], env)
    expect(verified.code).toBe(1)
    expect(verified.stderr).toContain(`line ${firstForged} (seq ${firstForged}): checkpoint: signed by key ${attackerKid}, which is not trusted`)

    // (b) The broker verifies before it seals: over HTTP, a 500 naming the problem, an error log
    // line and an audit.seal_refused event; the CLI export fails the same way and writes nothing.
    const token = env.WRIT_ADMIN_TOKEN!
    const res = await fetch(`${url}/admin/audit?format=jsonl`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(500)
    const body = (await res.json()) as { error: string; error_description: string }
    expect(body).toMatchObject({ error: 'server_error', error_description: expect.stringMatching(/^the audit log does not verify, so the broker will not seal an export of it: line \d+ of the page \(seq \d+\): /) })
    expect(errors.some((e) => e.startsWith('audit log does not verify: export refused'))).toBe(true)
    const json = await fetch(`${url}/admin/audit?since=1`, { headers: { authorization: `Bearer ${token}` } })
    expect(json.status).toBe(500)
    const out = join(dir, 'refused.jsonl')
    const exported = await runCli(['audit', 'export', '--out', out], env)
    expect(exported.code).toBe(1)
    expect(exported.stderr).toMatch(/the audit log does not verify/)
    expect(() => readFileSync(out)).toThrow()
    await broker.audit.log!.flush()
    const refused = (await redis.xrange(`${prefix}{audit}:log`, '-', '+')).map(([, f]) => JSON.parse(f[1]!) as { type: string; reason?: string })
    expect(refused.filter((e) => e.type === 'audit.seal_refused').length).toBeGreaterThanOrEqual(2)
  })
})
