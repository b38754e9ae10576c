/**
 * The shipped Redis ACL users (deploy/redis/users.acl, rendered by render-users-acl.sh) on a real
 * redis-server: the broker works as `writ-broker`, the verifier works as `writ-verifier`, and
 * `writ-verifier` — what a downstream service holds — can write nothing, read nothing but whether
 * a grant exists, and publish nothing: a compromised downstream service cannot forge a grant, a
 * key or a revocation, nor wipe the store. The same users also carry the broker and the verifier
 * on a Redis Cluster and through Sentinel.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStoreKeys } from '../../src/wire/keys.js'
import { createVerifier, type Verifier } from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { type PrivateRedis, startRedis } from '../helpers/redis.js'
import { startRedisCluster, startRedisSentinel, type Endpoint } from '../helpers/redis-cluster.js'
import { eventually } from '../helpers/eventually.js'
import { outcome } from '../helpers/verifier.js'

const root = join(import.meta.dirname, '..', '..')
const run = promisify(execFile)
const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
const BROKER_PASSWORD = `broker-${randomBytes(12).toString('hex')}`
const VERIFIER_PASSWORD = `verifier-${randomBytes(12).toString('hex')}`
const keys = createStoreKeys('writ:')
const KEK = randomBytes(32).toString('base64')


/** The error a command gets, or 'OK' when it succeeds. */
async function answer(redis: Redis, command: string, ...args: Array<string | number>): Promise<string> {
  try {
    await redis.call(command, ...args)
    return 'OK'
  } catch (err) {
    return (err as Error).message
  }
}

let dir: string
let rendered: string
let redis: PrivateRedis
let url: (user: string, password: string) => string
let broker: TestBroker
let verifier: Verifier
let asVerifier: Redis
let asBroker: Redis

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'writ-acl-'))
  rendered = join(dir, 'users.acl')
  // Render the shipped file with the shipped script, exactly as the compose file does.
  await run('sh', [join(root, 'deploy/redis/render-users-acl.sh'), join(root, 'deploy/redis/users.acl'), rendered], {
    env: { PATH: process.env.PATH, WRIT_REDIS_BROKER_PASSWORD: BROKER_PASSWORD, WRIT_REDIS_VERIFIER_PASSWORD: VERIFIER_PASSWORD },
  })
  const text = readFileSync(rendered, 'utf8')
  expect(text).not.toContain(BROKER_PASSWORD)
  expect(text).not.toContain(VERIFIER_PASSWORD)
  redis = await startRedis(['--aclfile', rendered])
  url = (user, password) => `redis://${user}:${password}@127.0.0.1:${redis.port}`

  broker = await makeTestBroker({
    config: {
      store: { kind: 'redis', redisUrl: url('writ-broker', BROKER_PASSWORD), keyPrefix: 'writ:', commandTimeoutMs: 1000 },
      keys: { source: 'store', kek: KEK },
    },
  })
  verifier = createVerifier({
    issuer: ISSUER,
    audience: APP,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: broker.clock,
    liveness: { mode: 'redis', redis: url('writ-verifier', VERIFIER_PASSWORD), cacheTtlSeconds: 3600 },
  })
  await eventually('the verifier subscribed', () => (verifier.status() as { subscribed?: boolean }).subscribed === true)
  asVerifier = new Redis(url('writ-verifier', VERIFIER_PASSWORD), { maxRetriesPerRequest: 1 })
  asBroker = new Redis(url('writ-broker', BROKER_PASSWORD), { maxRetriesPerRequest: 1 })
})

afterAll(async () => {
  asVerifier?.disconnect()
  asBroker?.disconnect()
  await verifier?.close()
  await broker?.close()
  await redis?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function issue(task = 'JIRA-4711'): Promise<{ token: string; grantId: string }> {
  const manifest = docsManifest()
  const res = await broker.call('POST', '/v1/tokens', { ...json({ ...manifest, task: { ...manifest.task, id: task } }), basic: A })
  expect(res.status).toBe(200)
  const body = await res.json()
  return { token: body.access_token, grantId: body.grant_id }
}

describe('the shipped Redis ACL users (deploy/redis/users.acl)', () => {
  it('let the broker (writ-broker) issue and revoke, and the verifier (writ-verifier) see both', async () => {
    const { token } = await issue()
    expect(await outcome(verifier, token)).toBe('ok')
    const res = await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })
    expect(res.status).toBe(200)
    await eventually('the verifier refuses the revoked token', async () => (await outcome(verifier, token)) === 'token_revoked')

    // Bulk revocations walk the client index and publish: they work within the ACL too.
    const by = { by: 'admin', reason: 'test', at: Math.floor(broker.clock() / 1000) }
    const task = await issue('TASK-2')
    expect(await outcome(verifier, task.token)).toBe('ok')
    expect(await broker.store.grants.revokeByTask('TASK-2', by)).toBe(1)
    await eventually('the task revocation reached the verifier', async () => (await outcome(verifier, task.token)) === 'token_revoked')
    const last = await issue()
    expect(await outcome(verifier, last.token)).toBe('ok')
    await broker.store.grants.revokeAll(by)
    await eventually('revoke-all reached the verifier', async () => (await outcome(verifier, last.token)) === 'token_revoked')
    expect((verifier.status() as { subscribed?: boolean }).subscribed).toBe(true)
  })

  it('reach the broker through REDIS_USERNAME / REDIS_PASSWORD with a URL that carries none', async () => {
    const second = await makeTestBroker({
      config: {
        store: {
          kind: 'redis',
          redisUrl: `redis://127.0.0.1:${redis.port}`,
          username: 'writ-broker',
          password: BROKER_PASSWORD,
          keyPrefix: 'writ:',
          commandTimeoutMs: 1000,
        },
        keys: { source: 'store', kek: KEK },
      },
    })
    try {
      const res = await second.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
      expect(res.status).toBe(200)
    } finally {
      await second.close()
    }
  })

  it('refuse writ-verifier every write, every read but a grant lookup, and every publish (NOPERM)', async () => {
    const { grantId } = await issue()
    const grant = keys.grant('agent-a', grantId)
    const before = await asBroker.get(grant)
    expect(before).not.toBeNull()
    // What the verifier does is allowed: reading a grant record (its claims digest).
    expect(await asVerifier.exists(grant)).toBe(1)
    expect(await asVerifier.get(grant)).toBe(before)

    const attempts: Array<[string, ...Array<string | number>]> = [
      ['SET', grant, 'forged'],
      ['SET', keys.grant('agent-a', 'forged-grant'), '{}'],
      ['DEL', grant],
      ['UNLINK', grant],
      ['PEXPIRE', grant, 1],
      ['HSET', keys.keySet(), 'version', '999'],
      ['ZADD', keys.live('agent-a'), 1, 'x'],
      ['XADD', 'writ:{audit}:log', '*', 'e', '{}'],
      ['EVAL', "return redis.call('SET', KEYS[1], 'forged')", 1, grant],
      ['EVAL', 'return 1', 0],
      ['PUBLISH', keys.revocationChannel(), '{"v":1,"all":true}'],
      ['FLUSHALL'],
      ['FLUSHDB'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
      ['CONFIG', 'GET', 'requirepass'],
      ['ACL', 'SETUSER', 'writ-verifier', '+@all'],
      ['SCRIPT', 'LOAD', 'return 1'],
      ['FUNCTION', 'FLUSH'],
      ['GET', keys.keySet()],
      ['GET', keys.grantPointer(grantId)],
      ['HGETALL', keys.keySet()],
      ['KEYS', '*'],
      ['SCAN', 0],
      ['RENAME', grant, 'writ:stolen'],
      ['SWAPDB', 0, 1],
      ['SHUTDOWN', 'NOSAVE'],
    ]
    for (const [command, ...args] of attempts) {
      expect(await answer(asVerifier, command, ...args), `${command} ${args.join(' ')}`).toMatch(/^NOPERM /)
    }
    // A lookup of anything but a grant record is refused too (the key set, the audit log).
    expect(await answer(asVerifier, 'EXISTS', keys.keySet())).toMatch(/^NOPERM /)
    expect(await answer(asVerifier, 'XRANGE', 'writ:{audit}:log', '-', '+')).toMatch(/^NOPERM /)
    // The store is as it was, and the verifier still works.
    expect(await asBroker.get(grant)).toBe(before)
    expect(await asBroker.hget(keys.keySet(), 'version')).not.toBe('999')
  })

  it('refuse writ-verifier a subscription to any other channel', async () => {
    const sub = new Redis(url('writ-verifier', VERIFIER_PASSWORD), { maxRetriesPerRequest: 1 })
    try {
      await expect(sub.subscribe('other:revocations')).rejects.toThrow(/^NOPERM /)
      await expect(sub.psubscribe('*')).rejects.toThrow(/^NOPERM /)
    } finally {
      sub.disconnect()
    }
  })

  it('grant writ-broker every command a Lua script of the broker calls (Redis checks each one)', () => {
    const acl = readFileSync(join(root, 'deploy/redis/users.acl'), 'utf8')
    const brokerLine = acl.split('\n').find((line) => line.startsWith('user writ-broker '))!
    const granted = new Set([...brokerLine.matchAll(/\+([a-z|]+)/g)].map((m) => m[1]!))
    const sources = execFileSync('git', ['ls-files', 'src'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(root, f), 'utf8'))
    const called = new Set(
      sources.flatMap((text) => [...text.matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)].map((m) => m[1]!.toLowerCase())),
    )
    expect(called.size).toBeGreaterThan(20)
    for (const command of called) expect(granted, `+${command}`).toContain(command)
  })

  it('keep writ-broker to its prefix, its channel and the commands it uses', async () => {
    for (const [command, ...args] of [
      ['SET', 'other:key', 'x'],
      ['GET', 'other:key'],
      ['PUBLISH', 'other:revocations', 'x'],
      ['FLUSHALL'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
      ['ACL', 'SETUSER', 'writ-broker', '+@all'],
      ['KEYS', '*'],
      ['SHUTDOWN', 'NOSAVE'],
    ] as Array<[string, ...string[]]>) {
      expect(await answer(asBroker, command, ...args), `${command} ${args.join(' ')}`).toMatch(/^NOPERM /)
    }
  })

  it('turn the default user off: a connection without a user gets nothing', async () => {
    const anonymous = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1, enableReadyCheck: false })
    try {
      expect(await answer(anonymous, 'GET', 'writ:keys')).toMatch(/^NOAUTH /)
      expect(await answer(anonymous, 'FLUSHALL')).toMatch(/^NOAUTH /)
      expect(await answer(anonymous, 'AUTH', 'default', '')).toMatch(/WRONGPASS|disabled/)
    } finally {
      anonymous.disconnect()
    }
  })
})

/**
 * Applies the rendered file's writ users to a running node with ACL SETUSER (the same rules, word
 * for word). The default user stays on here: the cluster and Sentinel helpers need it to set up.
 */
async function applyWritUsers(node: Endpoint): Promise<void> {
  const admin = new Redis(node.port, node.host, { maxRetriesPerRequest: 1 })
  try {
    for (const line of readFileSync(rendered, 'utf8').split('\n')) {
      const [keyword, name, ...rules] = line.trim().split(/\s+/)
      if (keyword !== 'user' || name === 'default') continue
      await admin.call('ACL', 'SETUSER', name!, 'reset', ...rules)
    }
  } finally {
    admin.disconnect()
  }
}

async function issueAndRevokeOn(other: TestBroker, v: Verifier): Promise<void> {
  const res = await other.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
  expect(res.status).toBe(200)
  const { access_token: token } = await res.json()
  expect(await outcome(v, token)).toBe('ok')
  expect((await other.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })).status).toBe(200)
  await eventually('the verifier refuses the revoked token', async () => (await outcome(v, token)) === 'token_revoked')
}

describe('the shipped ACL users on Redis Cluster and Sentinel', () => {
  it('let the broker and the verifier work on a Cluster as writ-broker and writ-verifier', async () => {
    const cluster = await startRedisCluster()
    let other: TestBroker | undefined
    let v: Verifier | undefined
    const lookups = new Cluster(cluster.nodes, { redisOptions: { username: 'writ-verifier', password: VERIFIER_PASSWORD } })
    try {
      for (const node of cluster.nodes) await applyWritUsers(node)
      other = await makeTestBroker({
        config: {
          store: { kind: 'redis', clusterNodes: cluster.nodes, username: 'writ-broker', password: BROKER_PASSWORD, keyPrefix: 'writ:', commandTimeoutMs: 2000 },
          keys: { source: 'store', kek: KEK },
        },
      })
      const broker2 = other
      v = createVerifier({
        issuer: ISSUER,
        audience: APP,
        jwksUri: `${ISSUER}/.well-known/jwks.json`,
        fetch: async (input, init) => broker2.app.request(String(input), init),
        clock: broker2.clock,
        liveness: {
          mode: 'redis',
          redis: lookups,
          subscriber: `redis://writ-verifier:${VERIFIER_PASSWORD}@127.0.0.1:${cluster.nodes[0]!.port}`,
          cacheTtlSeconds: 3600,
        },
      })
      const v2 = v
      await eventually('the verifier subscribed', () => (v2.status() as { subscribed?: boolean }).subscribed === true)
      await issueAndRevokeOn(other, v)
      expect(await answer(lookups as unknown as Redis, 'SET', keys.grant('agent-a', 'x'), '1')).toMatch(/^NOPERM /)
    } finally {
      await v?.close()
      await other?.close()
      lookups.disconnect()
      await cluster.stop()
    }
  }, 60_000)

  it('let the broker reach the primary through Sentinel as writ-broker', async () => {
    const sentinel = await startRedisSentinel()
    let other: TestBroker | undefined
    let v: Verifier | undefined
    try {
      await applyWritUsers(sentinel.master)
      other = await makeTestBroker({
        config: {
          store: { kind: 'redis', sentinels: [sentinel.sentinel], sentinelName: sentinel.name, username: 'writ-broker', password: BROKER_PASSWORD, keyPrefix: 'writ:', commandTimeoutMs: 2000 },
          keys: { source: 'store', kek: KEK },
        },
      })
      const broker2 = other
      v = createVerifier({
        issuer: ISSUER,
        audience: APP,
        jwksUri: `${ISSUER}/.well-known/jwks.json`,
        fetch: async (input, init) => broker2.app.request(String(input), init),
        clock: broker2.clock,
        liveness: { mode: 'redis', redis: `redis://writ-verifier:${VERIFIER_PASSWORD}@127.0.0.1:${sentinel.master.port}`, cacheTtlSeconds: 3600 },
      })
      const v2 = v
      await eventually('the verifier subscribed', () => (v2.status() as { subscribed?: boolean }).subscribed === true)
      await issueAndRevokeOn(other, v)
    } finally {
      await v?.close()
      await other?.close()
      await sentinel.stop()
    }
  }, 60_000)
})
