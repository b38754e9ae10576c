import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../../src/clock.js'
import {
  type AwsSessionRecord,
  createMemorySessionRecord,
  createRedisSessionRecord,
} from '../../../src/credentials/aws/index.js'
import { createRedisStore, type Store } from '../../../src/open-store.js'
import type { RedisBackend } from '../../../src/store/redis-backend.js'
import { OTHER_ROLE, ROLE } from './fixtures.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-aws-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)
const stores: Store<RedisBackend>[] = []
let count = 0

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
  const keys = await admin.keys(`${RUN_PREFIX}*`)
  if (keys.length > 0) await admin.del(...keys)
  expect(await admin.keys(`${RUN_PREFIX}*`)).toEqual([])
  await admin.quit()
})

type Clock = ReturnType<typeof manualClock>

const implementations: Array<[string, (clock: Clock) => AwsSessionRecord]> = [
  ['memory', (clock) => createMemorySessionRecord({ clock })],
  [
    'redis',
    (clock) => {
      const store = createRedisStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}${++count}:`, clock })
      stores.push(store)
      return createRedisSessionRecord({ redis: store.backend.redis, keyPrefix: store.backend.keys.prefix, clock })
    },
  ],
]

describe.each(implementations)('AwsSessionRecord contract (%s)', (_name, make) => {
  let clock: Clock
  let record: AwsSessionRecord
  let now: number

  beforeEach(() => {
    clock = manualClock(Date.UTC(2026, 0, 1))
    now = clock() / 1000
    record = make(clock)
  })

  it('finds the sessions vended under a grant, per role, keeping the latest expiry', async () => {
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 900 })
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 1800 })
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 1000 })
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: OTHER_ROLE, expiresAt: now + 900 })
    await record.recordSession({ grantId: 'g2', clientId: 'agent-b', roleArn: ROLE, expiresAt: now + 900 })
    const sessions = await record.sessionsOf(['g1', 'unknown', 'g1'])
    expect(sessions.sort((a, b) => a.roleArn.localeCompare(b.roleArn))).toEqual([
      { grantId: 'g1', clientId: 'agent-a', roleArn: OTHER_ROLE, expiresAt: now + 900 },
      { grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 1800 },
    ])
    expect(await record.sessionsOf([])).toEqual([])
  })

  it('forgets sessions once they have expired, by its clock', async () => {
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 900 })
    await record.recordSession({ grantId: 'g2', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 1800 })
    expect((await record.listSessions()).map((s) => s.grantId).sort()).toEqual(['g1', 'g2'])
    clock.advance(900_000)
    expect(await record.sessionsOf(['g1'])).toEqual([])
    expect((await record.listSessions()).map((s) => s.grantId)).toEqual(['g2'])
  })

  it('lists every unexpired session with its client and role', async () => {
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 900 })
    await record.recordSession({ grantId: 'g1', clientId: 'agent-a', roleArn: OTHER_ROLE, expiresAt: now + 950 })
    const listed = await record.listSessions()
    expect(listed.sort((a, b) => a.expiresAt - b.expiresAt)).toEqual([
      { grantId: 'g1', clientId: 'agent-a', roleArn: ROLE, expiresAt: now + 900 },
      { grantId: 'g1', clientId: 'agent-a', roleArn: OTHER_ROLE, expiresAt: now + 950 },
    ])
  })

  it('starts a role with an empty deny state at version 0', async () => {
    expect(await record.getDenyState(ROLE)).toEqual({ version: 0, appliedVersion: 0, sessions: {} })
  })

  it('stores deny entries by compare-and-set: a writer that read an old version loses', async () => {
    const entries = {
      sessions: { g1: { client: 'agent-a', until: now + 900 } },
      clientCutoffs: { 'agent-b': { issuedBefore: now + 30, until: now + 1800 } },
      cutoff: { issuedBefore: now, until: now + 60 },
    }
    expect(await record.putDenyState(ROLE, entries, 0)).toBe(true)
    expect(await record.putDenyState(ROLE, { sessions: {} }, 0)).toBe(false)
    expect(await record.getDenyState(ROLE)).toEqual({ ...entries, version: 1, appliedVersion: 0 })
    const second = { sessions: { g2: { client: 'agent-b', until: now + 5 } } }
    expect(await record.putDenyState(ROLE, second, 1)).toBe(true)
    expect(await record.getDenyState(ROLE)).toEqual({ ...second, version: 2, appliedVersion: 0 })
    expect((await record.getDenyState(OTHER_ROLE)).version).toBe(0)
  })

  it('hands out copies: changing what it returned changes nothing stored', async () => {
    await record.putDenyState(ROLE, { sessions: { g1: { client: 'agent-a', until: now + 900 } } }, 0)
    const state = await record.getDenyState(ROLE)
    state.sessions.g1!.until = 0
    state.sessions.g2 = { client: 'agent-a', until: now + 1 }
    expect((await record.getDenyState(ROLE)).sessions).toEqual({ g1: { client: 'agent-a', until: now + 900 } })
  })

  it('marks a version applied only while it is still the current one', async () => {
    await record.putDenyState(ROLE, { sessions: { g1: { client: 'agent-a', until: now + 900 } } }, 0)
    await record.markApplied(ROLE, 1)
    expect((await record.getDenyState(ROLE)).appliedVersion).toBe(1)
    await record.putDenyState(ROLE, { sessions: {} }, 1)
    await record.markApplied(ROLE, 1)
    expect(await record.getDenyState(ROLE)).toMatchObject({ version: 2, appliedVersion: 1 })
  })
})

describe('RedisSessionRecord', () => {
  it('reads deny entries stored before clients were recorded, with an unknown client', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const prefix = `${RUN_PREFIX}${++count}:`
    const store = createRedisStore({ url: REDIS_URL, keyPrefix: prefix, clock })
    stores.push(store)
    const record = createRedisSessionRecord({ redis: store.backend.redis, keyPrefix: prefix, clock })
    await record.putDenyState(ROLE, { sessions: {} }, 0)
    const [key] = await admin.keys(`${prefix}{aws}:deny:*`)
    await admin.hset(key!, 'data', JSON.stringify({ sessions: { old: 1767226500 } }))
    expect((await record.getDenyState(ROLE)).sessions).toEqual({ old: { client: '', until: 1767226500 } })
  })
})
