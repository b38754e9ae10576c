import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import {
  type AwsSessionRecord,
  createAwsSessionRevoker,
  createRedisSessionRecord,
  CUTOFF_SKEW_SECONDS,
  iamDate,
} from '../../src/credentials/aws/index.js'
import type { Grant } from '../../src/grants/grant.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { silentLogger } from '../../src/logger.js'
import { AGENT, type AwsTestBroker, createRole, makeAwsBroker, rolePolicy } from '../credentials/aws/aws-broker.js'
import { awsDetail } from '../credentials/aws/fixtures.js'
import { startMoto, type PrivateMoto } from '../helpers/moto.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-awsrev-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)
const stores: Store<RedisBackend>[] = []
let prefixes = 0
let roles = 0

let moto: PrivateMoto
let clock: ReturnType<typeof manualClock>

function redisStore(): Store<RedisBackend> {
  const store = createRedisStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}${++prefixes}:`, clock })
  stores.push(store)
  return store
}

const ROLE = 'arn:aws:iam::123456789012:role/writ-docs'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let broker: AwsTestBroker

beforeAll(async () => {
  moto = await startMoto()
  clock = manualClock(Date.now())
  broker = await makeAwsBroker(moto, { store: redisStore(), clock, roles: [{ arn: ROLE }] })
  await createRole(broker.iam, 'writ-docs')
})
afterAll(async () => {
  await broker?.close()
  await Promise.all(stores.map((s) => s.close()))
  await moto?.stop()
  const keys = await admin.keys(`${RUN_PREFIX}*`)
  if (keys.length > 0) await admin.del(...keys)
  expect(await admin.keys(`${RUN_PREFIX}*`)).toEqual([])
  await admin.quit()
})
beforeEach(() => moto.clearRequests())

/** Waits (at most 10 s) until `probe` returns something other than undefined. */
async function eventually<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe()
    if (value !== undefined) return value
    await sleep(50)
  }
  throw new Error('condition not reached within 10 s')
}

const revokedNames = (policy: Awaited<ReturnType<typeof rolePolicy>>): string[] =>
  policy?.Statement.find((s) => /^WritV\d+RevokedGrants$/.test(s.Sid))?.Condition.StringLike['aws:userid'] ?? []

/** The statements' Sids without the deny state's version (`WritV7RevokedGrants` → `RevokedGrants`). */
const kinds = (policy: Awaited<ReturnType<typeof rolePolicy>>): string[] =>
  policy?.Statement.map((s) => String(s.Sid).replace(/^WritV\d+/, '')) ?? []

async function revokeToken(token: string): Promise<void> {
  const res = await broker.call('POST', '/oauth/revoke', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
    basic: AGENT,
  })
  expect(res.status).toBe(200)
}

describe('revoking a grant cuts its AWS sessions (broker, Redis, revocation channel)', () => {
  it('adds a deny on the session name when the grant is revoked, and prunes it once the session expired', async () => {
    const a = await broker.token([awsDetail({}, ROLE)], { ttl: '15m' })
    const b = await broker.token([awsDetail({}, ROLE)], { ttl: '30m' })
    const untouched = await broker.token([awsDetail({}, ROLE)], { ttl: '30m' })
    for (const t of [a, b, untouched]) {
      expect((await broker.credentials(t.access_token, { role_arn: ROLE })).status).toBe(200)
    }
    expect(await rolePolicy(broker.iam, ROLE)).toBeNull()

    // Revocation through RFC 7009: the store publishes, the broker's subscription cuts the session.
    await revokeToken(a.access_token)
    const first = await eventually(async () => (await rolePolicy(broker.iam, ROLE)) ?? undefined)
    expect(first.Statement).toEqual([
      {
        Sid: expect.stringMatching(/^WritV\d+RevokedGrants$/),
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { StringLike: { 'aws:userid': [`*:${a.grant_id}`] } },
      },
    ])
    await revokeToken(b.access_token)
    const both = await eventually(async () => {
      const names = revokedNames(await rolePolicy(broker.iam, ROLE))
      return names.length === 2 ? names : undefined
    })
    expect(both.sort()).toEqual([`*:${a.grant_id}`, `*:${b.grant_id}`].sort())
    expect(both).not.toContain(`*:${untouched.grant_id}`)
    const put = moto.requests('PutRolePolicy').at(-1)!
    expect(put.service).toBe('iam')
    expect(put.params).toMatchObject({ RoleName: 'writ-docs', PolicyName: 'writ-revoked-sessions' })

    // a's session (900 s) has expired, b's (1800 s) has not: only b's entry remains.
    clock.advance(901_000)
    await broker.aws!.tick()
    expect(revokedNames(await rolePolicy(broker.iam, ROLE))).toEqual([`*:${b.grant_id}`])

    // Once b's session has expired too, the inline policy is deleted.
    clock.advance(900_000)
    await broker.aws!.tick()
    expect(await rolePolicy(broker.iam, ROLE)).toBeNull()
    expect(moto.requests('DeleteRolePolicy').map((r) => r.params.RoleName)).toEqual(['writ-docs'])
  })

  it('writes nothing to IAM for a revoked grant that never vended a session', async () => {
    const quiet = await broker.token([awsDetail({}, ROLE)])
    await revokeToken(quiet.access_token)
    await broker.aws!.revoker.onGrantsRevoked([quiet.grant_id])
    await broker.aws!.tick()
    expect(moto.requests('PutRolePolicy')).toEqual([])
    expect(moto.requests('DeleteRolePolicy')).toEqual([])
  })
})

describe('AwsSessionRevoker (Redis record, IAM on moto)', () => {
  let record: AwsSessionRecord
  let store: Store<RedisBackend>

  beforeEach(() => {
    store = redisStore()
    record = createRedisSessionRecord({ redis: store.backend.redis, keyPrefix: store.backend.keys.prefix, clock })
  })

  async function newRole(): Promise<string> {
    return createRole(broker.iam, `writ-rev-${++roles}`)
  }

  const revoker = (roleArn: string, overrides: { maxPolicyChars?: number } = {}) =>
    createAwsSessionRevoker({
      iam: broker.iam,
      record,
      store: store.grants,
      roleArns: [roleArn],
      policyName: 'writ-revoked-sessions',
      maxPolicyChars: overrides.maxPolicyChars ?? 8192,
      clock,
      logger: silentLogger,
    })

  const now = () => Math.floor(clock() / 1000)
  const session = (grantId: string, roleArn: string, life = 900) =>
    record.recordSession({ grantId, clientId: 'agent-a', roleArn, expiresAt: now() + life })

  it('keeps every revocation when two replicas revoke at the same time', async () => {
    const role = await newRole()
    const ids = Array.from({ length: 6 }, (_, i) => `grant-${i}-${randomBytes(4).toString('hex')}`)
    for (const id of ids) await session(id, role)
    const replicas = [revoker(role), revoker(role)]
    await Promise.all(ids.map((id, i) => replicas[i % 2]!.onGrantsRevoked([id])))
    expect(revokedNames(await rolePolicy(broker.iam, role)).sort()).toEqual(ids.map((id) => `*:${id}`).sort())
    const state = await record.getDenyState(role)
    expect(state.appliedVersion).toBe(state.version)
  })

  it("replaces a client's list by a cutoff on that client's sessions when it would exceed the policy budget", async () => {
    const role = await newRole()
    const ids = Array.from({ length: 40 }, (_, i) => `budget-grant-${String(i).padStart(2, '0')}-xxxx`)
    for (const [i, id] of ids.entries()) await session(id, role, 900 + i)
    const cut = revoker(role, { maxPolicyChars: 1024 })
    await cut.onGrantsRevoked(ids)
    const policy = await rolePolicy(broker.iam, role)
    expect(policy!.Statement).toEqual([
      {
        Sid: expect.stringMatching(/^WritV\d+ClientRevokedBefore1$/),
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {
          DateLessThan: { 'aws:TokenIssueTime': iamDate(now() + CUTOFF_SKEW_SECONDS) },
          StringEquals: { 'aws:PrincipalTag/writ:client': 'agent-a' },
        },
      },
    ])
    // The cutoff stays until the last of those sessions has expired, then goes.
    clock.advance(938_000)
    await cut.prune()
    expect(await rolePolicy(broker.iam, role)).not.toBeNull()
    clock.advance(2_000)
    await cut.prune()
    expect(await rolePolicy(broker.iam, role)).toBeNull()
  })

  it('cuts every vended session on a revoke-all message', async () => {
    const role = await newRole()
    await session('all-1', role, 900)
    await session('all-2', role, 2000)
    await revoker(role).onRevocation({ v: 1, all: true })
    const policy = await rolePolicy(broker.iam, role)
    expect(kinds(policy)).toEqual(['RevokedBefore'])
    expect((await record.getDenyState(role)).cutoff).toEqual({ issuedBefore: now() + CUTOFF_SKEW_SECONDS, until: now() + 2000 })
  })

  it('catches up on revocations it missed (reconcile), and leaves live grants alone', async () => {
    const role = await newRole()
    const grant = (id: string): Grant => ({
      id,
      clientId: 'agent-a',
      task: { id: 'T-1' },
      manifestSha256: '00'.repeat(32),
      authorizationDetails: [awsDetail({}, role)],
      ruleIds: ['aws-s3'],
      issuedAt: now(),
      expiresAt: now() + 1200,
    })
    await store.grants.createGrant(grant('missed'))
    await store.grants.createGrant(grant('live'))
    await session('missed', role)
    await session('live', role)
    // Revoked while no revoker listened.
    await store.grants.revokeGrant('agent-a', 'missed', { by: 'admin', reason: 'test', at: now() })
    await revoker(role).reconcile()
    expect(revokedNames(await rolePolicy(broker.iam, role))).toEqual(['*:missed'])
  })

  it('retries an IAM write that failed at the next prune', async () => {
    const name = `writ-rev-${++roles}`
    const role = `arn:aws:iam::123456789012:role/${name}`
    await session('retry-me', role)
    const r = revoker(role)
    // The role does not exist yet: IAM refuses the write, the desired state stays recorded.
    await expect(r.onGrantsRevoked(['retry-me'])).rejects.toThrow()
    const state = await record.getDenyState(role)
    expect(state.sessions).toHaveProperty('retry-me')
    expect(state.appliedVersion).toBeLessThan(state.version)
    await createRole(broker.iam, name)
    await r.prune()
    expect(revokedNames(await rolePolicy(broker.iam, role))).toEqual(['*:retry-me'])
  })
})
