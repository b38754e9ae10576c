import { randomBytes } from 'node:crypto'
import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import {
  type AwsSessionRecord,
  type AwsSessionRevoker,
  createAwsSessionRevoker,
  createRedisSessionRecord,
  denyPolicyVersion,
} from '../../src/credentials/aws/index.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { silentLogger } from '../../src/logger.js'
import {
  AGENT,
  type AwsTestBroker,
  createRole,
  type IamPolicy,
  makeAwsBroker,
  OTHER_AGENT,
  rolePolicy,
} from '../credentials/aws/aws-broker.js'
import { awsDetail } from '../credentials/aws/fixtures.js'
import { startMoto, type PrivateMoto } from '../helpers/moto.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-awsrace-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)
const stores: Store<RedisBackend>[] = []
const clients: IAMClient[] = []
let prefixes = 0
let roles = 0

let moto: PrivateMoto
const clock = manualClock(Date.now())
const now = (): number => Math.floor(clock() / 1000)

beforeAll(async () => {
  moto = await startMoto()
})
afterAll(async () => {
  for (const iam of clients) iam.destroy()
  await Promise.all(stores.map((s) => s.close()))
  await moto?.stop()
  const keys = await admin.keys(`${RUN_PREFIX}*`)
  if (keys.length > 0) await admin.del(...keys)
  expect(await admin.keys(`${RUN_PREFIX}*`)).toEqual([])
  await admin.quit()
})

function iamClient(): IAMClient {
  const iam = new IAMClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: moto.credentials })
  clients.push(iam)
  return iam
}

/**
 * A real IAM client whose next PutRolePolicy is held back (as a slow network or an SDK retry
 * would) until `release` is called: the request, with the document it carried when sent, then
 * reaches IAM late.
 */
function slowIam() {
  const iam = iamClient()
  const send = iam.send.bind(iam) as (command: unknown) => Promise<unknown>
  const sent: string[] = []
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let held!: () => void
  const holding = new Promise<void>((resolve) => (held = resolve))
  let holdNext = true
  ;(iam as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command) => {
    if (command instanceof PutRolePolicyCommand) {
      sent.push(command.input.PolicyDocument!)
      if (holdNext) {
        holdNext = false
        held()
        await released
      }
    }
    return send(command)
  }
  return { iam, sent, holding, release }
}

/** Two broker replicas' records: separate Redis connections on one shared prefix. */
function replicaRecords(): [AwsSessionRecord, AwsSessionRecord, Store<RedisBackend>] {
  const keyPrefix = `${RUN_PREFIX}${++prefixes}:`
  const [a, b] = [0, 1].map(() => {
    const store = createRedisStore({ url: REDIS_URL, keyPrefix, clock })
    stores.push(store)
    return store
  }) as [Store<RedisBackend>, Store<RedisBackend>]
  const record = (store: Store<RedisBackend>) => createRedisSessionRecord({ redis: store.backend.redis, keyPrefix, clock })
  return [record(a), record(b), a]
}

function revoker(iam: IAMClient, record: AwsSessionRecord, store: Store<RedisBackend>, roleArn: string, maxPolicyChars = 8192): AwsSessionRevoker {
  return createAwsSessionRevoker({
    iam,
    record,
    store: store.grants,
    roleArns: [roleArn],
    policyName: 'writ-revoked-sessions',
    maxPolicyChars,
    clock,
    logger: silentLogger,
  })
}

const revokedNames = (policy: IamPolicy | null): string[] =>
  (policy?.Statement.find((s) => /^Writ(V\d+)?RevokedGrants$/.test(s.Sid))?.Condition.StringLike['aws:userid'] ?? []).slice().sort()

describe('two replicas revoking at once: IAM converges to the latest deny state', () => {
  it("repairs a replica's older policy that reached IAM after the newer one", async () => {
    const role = await createRole(iamClient(), `writ-race-${++roles}`)
    const [recordA, recordB, store] = replicaRecords()
    await recordA.recordSession({ grantId: 'grant-a', clientId: 'agent-a', roleArn: role, expiresAt: now() + 900 })
    await recordA.recordSession({ grantId: 'grant-b', clientId: 'agent-b', roleArn: role, expiresAt: now() + 900 })
    const slow = slowIam()
    const replicaA = revoker(slow.iam, recordA, store, role)
    const replicaB = revoker(iamClient(), recordB, store, role)

    // Replica A sends the policy denying grant-a; its request is slow to reach IAM.
    const first = replicaA.onGrantsRevoked(['grant-a'])
    await slow.holding
    // Meanwhile replica B adds grant-b and writes the newer policy, denying both.
    await replicaB.onGrantsRevoked(['grant-b'])
    expect(revokedNames(await rolePolicy(iamClient(), role))).toEqual(['*:grant-a', '*:grant-b'])
    // A's older policy (grant-a only) now lands, overwriting B's.
    slow.release()
    await first
    expect(revokedNames(JSON.parse(slow.sent[0]!) as IamPolicy)).toEqual(['*:grant-a'])

    // IAM holds the latest state again: grant-b's session stays denied.
    const held = await rolePolicy(iamClient(), role)
    expect(revokedNames(held)).toEqual(['*:grant-a', '*:grant-b'])
    const state = await recordB.getDenyState(role)
    expect(denyPolicyVersion(JSON.stringify(held))).toBe(state.version)
    expect(state.appliedVersion).toBe(state.version)
  })

  it('repairs at the next prune a stale write that reached IAM after every replica had finished', async () => {
    const name = `writ-race-${++roles}`
    const role = await createRole(iamClient(), name)
    const [recordA, recordB, store] = replicaRecords()
    for (const id of ['late-1', 'late-2']) {
      await recordA.recordSession({ grantId: id, clientId: 'agent-a', roleArn: role, expiresAt: now() + 900 })
    }
    const replicaA = revoker(iamClient(), recordA, store, role)
    const replicaB = revoker(iamClient(), recordB, store, role)
    await replicaA.onGrantsRevoked(['late-1'])
    const older = await rolePolicy(iamClient(), role)
    await replicaB.onGrantsRevoked(['late-2'])
    expect((await recordA.getDenyState(role)).appliedVersion).toBe(2)

    // A request of replica A that its SDK had given up on reaches IAM now, carrying version 1.
    await iamClient().send(
      new PutRolePolicyCommand({ RoleName: name, PolicyName: 'writ-revoked-sessions', PolicyDocument: JSON.stringify(older) }),
    )
    expect(revokedNames(await rolePolicy(iamClient(), role))).toEqual(['*:late-1'])

    // Either replica's next prune reads IAM back and rewrites it, though the state says "applied".
    moto.clearRequests()
    await replicaA.prune()
    expect(revokedNames(await rolePolicy(iamClient(), role))).toEqual(['*:late-1', '*:late-2'])
    expect(moto.requests('GetRolePolicy').length).toBeGreaterThan(0)
    // Once IAM holds the latest state, a prune only reads.
    moto.clearRequests()
    await replicaB.prune()
    expect(moto.requests('PutRolePolicy')).toEqual([])
  })
})

describe('a write IAM acknowledged but does not hold', () => {
  it('is never recorded as applied, and the next prune writes it', async () => {
    const role = await createRole(iamClient(), `writ-race-${++roles}`)
    const [record, , store] = replicaRecords()
    await record.recordSession({ grantId: 'lost-1', clientId: 'agent-a', roleArn: role, expiresAt: now() + 900 })
    // An IAM client whose PutRolePolicy answers success without the policy reaching IAM.
    const lossy = iamClient()
    const send = lossy.send.bind(lossy) as (command: unknown) => Promise<unknown>
    let dropping = true
    let dropped = 0
    ;(lossy as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command) => {
      if (dropping && command instanceof PutRolePolicyCommand) {
        dropped++
        return { $metadata: { httpStatusCode: 200 } }
      }
      return send(command)
    }
    const r = revoker(lossy, record, store, role)
    await expect(r.onGrantsRevoked(['lost-1'])).rejects.toMatchObject({
      status: 503,
      detail: expect.stringMatching(/did not show the latest deny policy/),
    })
    expect(dropped).toBe(5)
    const state = await record.getDenyState(role)
    expect(state.appliedVersion).toBeLessThan(state.version)
    expect(await rolePolicy(iamClient(), role)).toBeNull()

    dropping = false
    await r.prune()
    expect(revokedNames(await rolePolicy(iamClient(), role))).toEqual(['*:lost-1'])
    expect((await record.getDenyState(role)).appliedVersion).toBe(state.version)
  })
})

describe('one client revoking its own sessions in a loop cannot cut other clients', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/writ-flood'
  let broker: AwsTestBroker

  beforeAll(async () => {
    const store = createRedisStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}${++prefixes}:`, clock })
    stores.push(store)
    broker = await makeAwsBroker(moto, {
      store,
      clock,
      roles: [{ arn: ROLE }],
      aws: { revocation: { maxPolicyChars: 1024 } },
    })
    await createRole(broker.iam, 'writ-flood')
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("cuts over only the flooding client's sessions, by its writ:client tag, when its list outgrows its budget", async () => {
    // agent-b holds a live session on the role.
    moto.clearRequests()
    const victim = await broker.token([awsDetail({}, ROLE)], { client: OTHER_AGENT })
    expect((await broker.credentials(victim.access_token, { role_arn: ROLE })).status).toBe(200)
    const assumed = moto.requests('AssumeRole')[0]!.params
    expect(assumed['Tags.member.2.Key']).toBe('writ:client')
    expect(assumed['Tags.member.2.Value']).toBe('agent-b')

    // agent-a vends and revokes its own sessions, far past the whole policy's budget.
    const flooded: string[] = []
    for (let i = 0; i < 45; i++) {
      const t = await broker.token([awsDetail({}, ROLE)])
      expect((await broker.credentials(t.access_token, { role_arn: ROLE })).status).toBe(200)
      const res = await broker.call('POST', '/oauth/revoke', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: t.access_token }).toString(),
        basic: AGENT,
      })
      expect(res.status).toBe(200)
      // The revocation channel drives this too; awaiting it keeps the loop in step.
      await broker.aws!.revoker.onGrantsRevoked([t.grant_id])
      flooded.push(t.grant_id)
    }
    await broker.aws!.tick()

    const policy = (await rolePolicy(broker.iam, ROLE))!
    expect(JSON.stringify(policy).length).toBeLessThanOrEqual(1024)
    // Every statement is either a list of agent-a's revoked sessions or a cutoff on agent-a's
    // sessions: nothing that matches agent-b's session.
    for (const statement of policy.Statement) {
      const condition = statement.Condition as Record<string, Record<string, unknown>>
      if (/RevokedGrants$/.test(statement.Sid)) {
        const names = condition.StringLike!['aws:userid'] as string[]
        expect(names).not.toContain(`*:${victim.grant_id}`)
        for (const n of names) expect(flooded).toContain(n.slice(2))
      } else {
        expect(statement.Sid).toMatch(/^WritV\d+ClientRevokedBefore\d+$/)
        expect(condition.StringEquals).toEqual({ 'aws:PrincipalTag/writ:client': 'agent-a' })
        expect(Object.keys(condition).sort()).toEqual(['DateLessThan', 'StringEquals'])
      }
    }
    expect(policy.Statement.some((s) => /ClientRevokedBefore/.test(s.Sid))).toBe(true)
    const state = await broker.aws!.record.getDenyState(ROLE)
    expect(state.cutoff).toBeUndefined()
    expect(Object.keys(state.clientCutoffs ?? {})).toEqual(['agent-a'])
  })
})

describe('clients together over the budget', () => {
  it('cuts over the client with the most entries, not the one whose revocation tipped it', async () => {
    const role = await createRole(iamClient(), `writ-race-${++roles}`)
    const [record, , store] = replicaRecords()
    // Names of 20 characters: 25 in the policy each, so a client's share (256) holds 10.
    const name = (client: string, n: number) => `${client.padEnd(5, 'x')}-${String(n).padStart(14, '0')}`
    const sizes: Array<[string, number]> = [['big', 10], ['mid', 9], ['a', 8], ['b', 8]]
    const r = revoker(iamClient(), record, store, role, 1024)
    for (const [client, size] of sizes) {
      const ids = Array.from({ length: size }, (_, n) => name(client, n))
      for (const id of ids) await record.recordSession({ grantId: id, clientId: client, roleArn: role, expiresAt: now() + 900 })
      await r.onGrantsRevoked(ids)
      // Until b's revocations, everything fits: every client stays listed.
      if (client !== 'b') expect((await record.getDenyState(role)).clientCutoffs).toBeUndefined()
    }
    const state = await record.getDenyState(role)
    expect(Object.keys(state.clientCutoffs ?? {})).toEqual(['big'])
    expect(state.cutoff).toBeUndefined()
    const policy = (await rolePolicy(iamClient(), role))!
    expect(JSON.stringify(policy).length).toBeLessThanOrEqual(1024)
    expect(revokedNames(policy)).toHaveLength(25)
    expect(revokedNames(policy).some((n) => n.startsWith('*:bigxx'))).toBe(false)
  })
})
