import { randomBytes } from 'node:crypto'
import { serve, type ServerType } from '@hono/node-server'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { type Broker, createBroker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { policyHash } from '../../src/policy/policy-hash.js'
import { sealPolicy } from '../../src/policy/seal-policy.js'
import { importKek } from '../../src/tokens/seal-key-set.js'
import { docsManifest, SECRETS, testPolicyText } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { AGENT_C_SECRET, policyWithoutAgentB } from '../helpers/policy-change.js'
import { deleteKeysWithPrefix, freePort } from '../helpers/redis.js'

/*
 * `writ policy apply` on two replicas of one broker on one real Redis (policySource: store), each
 * serving on its own port: the built CLI applies through one replica, the other follows; an invalid
 * policy changes nothing anywhere; a policy planted in Redis without the KEK, or an older one put
 * back, is refused by both.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `writ-live-policy-${randomBytes(4).toString('hex')}:`
const kek = randomBytes(32).toString('base64')
const STORED_KEY = `${prefix}vsetting:policy`

interface Replica {
  url: string
  broker: Broker
  server: ServerType
}

let adminToken: string
let issuer: string
let a: Replica
let b: Replica
let redis: Redis
let seedText: string
let nextText: string

async function startReplica(port: number, policyText: string, tokenHash: string): Promise<Replica> {
  const config = parseConfig({
    issuer,
    policySource: 'store',
    store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix },
    keys: { source: 'store', kek },
    admin: { tokenHash },
  })
  const broker = await createBroker(config, { logger: silentLogger, policyText })
  const server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  return { url: `http://127.0.0.1:${port}`, broker, server }
}

interface Readiness {
  status: string
  policy: { hash: string; source: string; generation?: number; since: string; refused?: { hash?: string; at: string } }
}

async function ready(replica: Replica): Promise<Readiness> {
  const res = await fetch(`${replica.url}/readyz`)
  expect(res.status).toBe(200)
  return (await res.json()) as Readiness
}

/** A docs-read token request of `client` at `replica`: its status and body. */
async function requestToken(replica: Replica, client: string, secret: string, task = 'LIVE-1') {
  const manifest = docsManifest({ task: { id: task }, grants: docsManifest().grants.slice(0, 1) })
  const res = await fetch(`${replica.url}/v1/tokens`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`,
    },
    body: JSON.stringify(manifest),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function introspect(replica: Replica, token: string): Promise<boolean> {
  const res = await fetch(`${replica.url}/oauth/introspect`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`docs-service:${SECRETS['docs-service']}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }).toString(),
  })
  return ((await res.json()) as { active: boolean }).active
}

async function auditEvents(replica: Replica, type: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${replica.url}/admin/audit?limit=10000`, { headers: { authorization: `Bearer ${adminToken}` } })
  expect(res.status).toBe(200)
  const { events } = (await res.json()) as { events: Array<Record<string, unknown>> }
  return events.filter((e) => e.type === type)
}

const cli = (replica: Replica, args: string[], stdin?: string) =>
  runCli(args, { WRIT_URL: replica.url, WRIT_ADMIN_TOKEN: adminToken }, stdin)

beforeAll(async () => {
  const admin = await createAdminToken()
  adminToken = admin.token
  const [portA, portB] = [await freePort(), await freePort()]
  issuer = `http://127.0.0.1:${portA}`
  seedText = await testPolicyText()
  nextText = await policyWithoutAgentB()
  redis = new Redis(REDIS_URL)
  a = await startReplica(portA, seedText, admin.tokenHash)
  // Replica b's own policy file differs: the stored policy, seeded by a, is what it follows.
  b = await startReplica(portB, nextText, admin.tokenHash)
}, 60_000)

afterAll(async () => {
  for (const replica of [b, a]) {
    if (!replica) continue
    await new Promise((r) => replica.server.close(r))
    await replica.broker.close()
  }
  await deleteKeysWithPrefix(redis, prefix)
  await redis.quit()
})

describe('writ policy apply on two replicas sharing one Redis', () => {
  it('starts both on the stored policy: the first replica seeds it, the second follows it whatever its own file says', async () => {
    for (const replica of [a, b]) {
      const { policy } = await ready(replica)
      expect(policy).toMatchObject({ hash: policyHash(seedText), source: 'store', generation: 1 })
      expect(policy.refused).toBeUndefined()
    }
    // agent-b is in the stored policy, not in b's file: b issues to it.
    expect((await requestToken(b, 'agent-b', SECRETS['agent-b'])).status).toBe(200)
    expect((await requestToken(b, 'agent-c', AGENT_C_SECRET)).status).toBe(401)
  })

  it('switches both replicas; the removed client gets nothing more while its earlier grant stays live until revoked', async () => {
    const earlier = await requestToken(b, 'agent-b', SECRETS['agent-b'], 'BEFORE-CHANGE')
    expect(earlier.status).toBe(200)
    const earlierToken = earlier.body.access_token as string

    const applied = await cli(a, ['policy', 'apply', '-'], nextText)
    expect(applied.stderr).toBe('')
    expect(applied.code).toBe(0)
    const next = policyHash(nextText)
    expect(applied.stdout).toContain(`applied policy ${next} (generation 2), replacing ${policyHash(seedText)}`)
    expect(applied.stdout).toContain('grants issued under the old policy stay as they are')

    // The replica that applied it has it at once; the other follows (polled, never timed).
    expect((await ready(a)).policy).toMatchObject({ hash: next, generation: 2 })
    await eventually('replica b has the applied policy in force', async () => (await ready(b)).policy.hash === next)

    for (const replica of [a, b]) {
      expect((await requestToken(replica, 'agent-b', SECRETS['agent-b'])).status).toBe(401)
      expect((await requestToken(replica, 'agent-c', AGENT_C_SECRET)).status).toBe(200)
    }
    // A grant issued under the old policy stays as it is, and revocation still reaches it.
    expect(await introspect(b, earlierToken)).toBe(true)
    const revoked = await cli(b, ['revoke', '--client', 'agent-b', '--yes', '--reason', 'removed from the policy'])
    expect(revoked.code).toBe(0)
    expect(await introspect(a, earlierToken)).toBe(false)

    const changed = await auditEvents(a, 'policy.changed')
    expect(changed).toHaveLength(1)
    expect(changed[0]).toMatchObject({
      actor: 'admin',
      old_hash: policyHash(seedText),
      new_hash: next,
      source: 'store',
      generation: 2,
    })

    const status = await runCli(['status', '--replica', a.url, '--replica', b.url])
    expect(status.code).toBe(0)
    expect(status.stdout.split('\n').filter((line) => line.includes(next))).toHaveLength(2)
  })

  it('refuses an invalid policy naming every problem, and both replicas keep the policy in force', async () => {
    const inForce = policyHash(nextText)
    const versionBefore = await redis.hget(STORED_KEY, 'version')
    const invalid = nextText
      .replace('    rules: [docs-read]\n', '    rules: [docs-read, no-such-rule]\n')
      .replace('from: release-managers', 'from: nobody-group')
    const refused = await cli(a, ['policy', 'apply', '-'], invalid)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/clients\[\d\]\.rules\[1\]: unknown rule "no-such-rule"/)
    expect(refused.stderr).toMatch(/rules\[2\]\.approval\.from: unknown approver group "nobody-group"/)

    // Nothing was stored, and both replicas still have (and act on) the policy in force.
    expect(await redis.hget(STORED_KEY, 'version')).toBe(versionBefore)
    for (const replica of [a, b]) {
      expect((await ready(replica)).policy.hash).toBe(inForce)
      expect((await requestToken(replica, 'agent-c', AGENT_C_SECRET)).status).toBe(200)
    }
    expect(await auditEvents(a, 'policy.changed')).toHaveLength(1)
  })

  it('refuses a policy written to Redis without the KEK, and an older sealed policy put back', async () => {
    const inForce = policyHash(nextText)
    const version = await redis.hget(STORED_KEY, 'version')
    // The attack: someone who can write to Redis (but holds no KEK) puts back agent-b.
    const forgedText = seedText
    const forged = sealPolicy(importKek(randomBytes(32).toString('base64')), { issuer, generation: 99, text: forgedText })
    await redis.hset(STORED_KEY, 'version', String(Number(version) + 1), 'data', forged)
    for (const replica of [a, b]) {
      await eventually('the replica refused the forged policy', async () => (await ready(replica)).policy.refused !== undefined)
      expect((await ready(replica)).policy.hash).toBe(inForce)
      expect((await requestToken(replica, 'agent-b', SECRETS['agent-b'])).status).toBe(401)
    }
    const forgedRefusals = await auditEvents(a, 'policy.refused')
    expect(forgedRefusals.map((e) => e.reason)).toContain('the stored policy does not authenticate under the KEK')

    // The generation-1 policy, sealed under the real KEK, put back: older than the one in force.
    const sealedSeed = sealPolicy(importKek(kek), { issuer, generation: 1, text: seedText })
    await redis.hset(STORED_KEY, 'version', String(Number(version) + 2), 'data', sealedSeed)
    await eventually('both replicas refused the older policy', async () => {
      const events = await auditEvents(a, 'policy.refused')
      return events.filter((e) => String(e.reason).startsWith('generation 1 is not newer')).length === 2
    })
    for (const replica of [a, b]) {
      expect((await ready(replica)).policy.hash).toBe(inForce)
      expect((await requestToken(replica, 'agent-b', SECRETS['agent-b'])).status).toBe(401)
    }

    // An apply by the admin puts a good policy back in force over what was planted.
    const reapplied = await cli(b, ['--json', 'policy', 'apply', '-'], seedText)
    expect(reapplied.code).toBe(0)
    expect(JSON.parse(reapplied.stdout)).toMatchObject({ hash: policyHash(seedText), previous_hash: inForce })
    await eventually('replica a follows the re-applied policy', async () => (await ready(a)).policy.hash === policyHash(seedText))
    expect((await ready(a)).policy.refused).toBeUndefined()
    expect((await requestToken(a, 'agent-b', SECRETS['agent-b'])).status).toBe(200)
  })

  it('writ status exits 1 and says so when replicas have different policies in force', async () => {
    const admin = await createAdminToken()
    const port = await freePort()
    const config = parseConfig({ issuer: `http://127.0.0.1:${port}`, admin: { tokenHash: admin.tokenHash } })
    const other = await createBroker(config, { logger: silentLogger, policyText: nextText })
    const server = serve({ fetch: other.app.fetch, port, hostname: '127.0.0.1' })
    await new Promise((r) => server.once('listening', r))
    try {
      const status = await runCli(['--json', 'status', '--replica', a.url, '--replica', `http://127.0.0.1:${port}`])
      expect(status.code).toBe(1)
      const out = JSON.parse(status.stdout) as { replicas: Array<{ policy: { hash: string; source: string } }>; policy_agrees: boolean }
      expect(out.policy_agrees).toBe(false)
      expect(out.replicas.map((r) => [r.policy.hash, r.policy.source])).toEqual([
        [policyHash(seedText), 'store'],
        [policyHash(nextText), 'file'],
      ])
      const human = await runCli(['status', '--replica', a.url, '--replica', `http://127.0.0.1:${port}`])
      expect(human.code).toBe(1)
      expect(human.stdout).toContain('the replicas have 2 different policies in force')
      // A file-based broker refuses `writ policy apply`, naming what to do instead.
      const apply = await runCli(['policy', 'apply', '-'], { WRIT_URL: `http://127.0.0.1:${port}`, WRIT_ADMIN_TOKEN: admin.token }, seedText)
      expect(apply.code).toBe(1)
      expect(apply.stderr).toContain('send SIGHUP')
    } finally {
      await new Promise((r) => server.close(r))
      await other.close()
    }
  })
})
