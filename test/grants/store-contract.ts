import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import type { Grant, GrantApproval } from '../../src/grants/grant.js'
import type { RevocationMessage } from '../../src/wire/revocation-message.js'
import type { GrantStore } from '../../src/grants/store.js'
import type { Store } from '../../src/open-store.js'
import type { SubscriptionState } from '../../src/store/revocation-feed.js'
import { DEFAULT_REVOCATION_BATCH_SIZE } from '../../src/grants/store-rules.js'

export type ManualClock = ReturnType<typeof manualClock>

/** One store under test. Without `clock` the store runs on real time and the suite sleeps. */
export interface StoreHarness {
  /** The whole store: the suite tests its grants port, and the revocations that port publishes. */
  store: Store
  /** The store's clock, when the suite may move time by hand. */
  clock?: ManualClock
  /** The store's `revocationBatchSize`, when it is not the default (500). */
  revocationBatchSize?: number
  cleanup(): Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits (bounded) until `condition` holds; messages may travel through a network. */
export async function eventually(
  condition: () => boolean,
  what: string,
  withinMs = 5000,
): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** The grant ids a list of revocation messages names. */
export function idsIn(messages: readonly RevocationMessage[]): string[] {
  return messages.flatMap((m) => ('grants' in m ? m.grants.map((g) => g.id) : []))
}

/**
 * The GrantStore contract: every implementation must pass it unchanged.
 *
 * Each group gets its own store from `makeStore`, and every test uses its own client ids, so
 * tests never see each other's records.
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<StoreHarness>,
): void {
  describe(`GrantStore contract: ${name}`, () => {
    let h: StoreHarness
    let store: GrantStore
    let all: Store

    beforeAll(async () => {
      h = await makeStore()
      all = h.store
      store = all.grants
    })
    afterAll(async () => {
      await h.cleanup()
    })

    const now = (): number => (h.clock ? h.clock() : Date.now())

    /** Moves time to `targetMs`: by hand on a manual clock, by sleeping on real time. */
    const passTime = async (targetMs: number): Promise<void> => {
      if (h.clock) {
        if (targetMs > h.clock()) h.clock.set(targetMs)
        return
      }
      const wait = targetMs - Date.now()
      if (wait > 0) await sleep(wait)
    }

    const newClient = (label = 'client'): string => `${label}-${randomUUID()}`

    function makeGrant(clientId: string, overrides: Partial<Grant> = {}): Grant {
      const issuedAt = Math.floor(now() / 1000)
      return {
        id: randomUUID(),
        clientId,
        task: { id: 'JIRA-4711', purpose: 'Organize the docs', requested_by: 'carol@example.com' },
        manifestSha256: 'ab'.repeat(32),
        authorizationDetails: [
          {
            type: 'repo',
            actions: ['read'],
            locations: ['https://git.example.com/acme/app'],
            identifier: 'docs/**',
          },
        ],
        ruleIds: ['docs-read'],
        cnfJkt: 'jkt-thumbprint',
        issuedAt,
        expiresAt: issuedAt + 600,
        ...overrides,
      }
    }

    const expectQuotaError = async (promise: Promise<unknown>): Promise<WritError> => {
      const err = await promise.then(
        () => expect.unreachable('expected quota_exceeded'),
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(WritError)
      expect(err).toMatchObject({ code: 'quota_exceeded', status: 429 })
      return err as WritError
    }

    const revocation = (reason = 'task finished') => ({
      by: 'admin',
      reason,
      at: Math.floor(now() / 1000),
    })

    describe('grants', () => {
      it('reports its kind', () => {
        expect(['memory', 'redis']).toContain(all.kind)
      })

      it('answers ping while it can serve', async () => {
        await expect(all.ping()).resolves.toBeUndefined()
      })

      it('records a grant and reads it back as live', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
      })

      it("keeps the digest of the grant's token claims, by client, by id and in listings", async () => {
        const client = newClient()
        const grant = makeGrant(client, { claimsSha256: 'Xy0_-'.repeat(8) + 'abc' })
        await store.createGrant(grant)
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
        expect(await store.findGrant(grant.id)).toEqual({ state: 'live', grant })
        expect(await store.listGrants({ clientId: client })).toEqual([grant])
      })

      it('answers unknown for a grant that was never created', async () => {
        expect(await store.getGrant(newClient(), randomUUID())).toEqual({ state: 'unknown' })
      })

      it("answers unknown when asked for a grant under another client's id", async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        expect(await store.getGrant(newClient(), grant.id)).toEqual({ state: 'unknown' })
      })

      it('refuses to record a grant id that is already in use', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        const again = { ...grant, task: { id: 'other-task' } }
        await expect(store.createGrant(again)).rejects.toMatchObject({ code: 'server_error' })
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
        expect(await store.listGrants({ clientId: client, taskId: 'other-task' })).toEqual([])
      })

      it('refuses to resurrect a revoked grant id', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        await store.revokeGrant(client, grant.id, revocation())
        await expect(store.createGrant(grant)).rejects.toMatchObject({ code: 'server_error' })
        expect((await store.getGrant(client, grant.id)).state).toBe('revoked')
      })

      it('refuses a grant that has already expired', async () => {
        const client = newClient()
        const past = Math.floor(now() / 1000) - 1
        const grant = makeGrant(client, { issuedAt: past - 60, expiresAt: past })
        await expect(store.createGrant(grant)).rejects.toBeInstanceOf(RangeError)
        expect(await store.countLiveGrants(client)).toBe(0)
      })

      it('refuses a grant once the client reached its quota, recording nothing', async () => {
        const client = newClient()
        for (let i = 0; i < 3; i++) await store.createGrant(makeGrant(client), { maxLiveGrants: 3 })
        const extra = makeGrant(client, { task: { id: 'extra-task' } })
        const err = await expectQuotaError(store.createGrant(extra, { maxLiveGrants: 3 }))
        // Retry-After: until the earliest live grant expires (600 s here).
        expect(err.retryAfterSeconds).toBeGreaterThan(590)
        expect(err.retryAfterSeconds).toBeLessThanOrEqual(600)
        expect(await store.countLiveGrants(client)).toBe(3)
        expect(await store.getGrant(client, extra.id)).toEqual({ state: 'unknown' })
        expect(await store.listGrants({ clientId: client, taskId: 'extra-task' })).toEqual([])
        // The quota is per client: another client is not affected.
        await store.createGrant(makeGrant(newClient()), { maxLiveGrants: 3 })
      })

      it('treats a quota of zero as no grants at all, and no quota as unlimited', async () => {
        const client = newClient()
        await expectQuotaError(store.createGrant(makeGrant(client), { maxLiveGrants: 0 }))
        for (let i = 0; i < 5; i++) await store.createGrant(makeGrant(client))
        expect(await store.countLiveGrants(client)).toBe(5)
      })

      it('lets exactly one of 20 concurrent creates take the last quota slot', async () => {
        const client = newClient()
        for (let i = 0; i < 4; i++) await store.createGrant(makeGrant(client), { maxLiveGrants: 5 })
        const racers = Array.from({ length: 20 }, () => makeGrant(client))
        const results = await Promise.allSettled(
          racers.map((g) => store.createGrant(g, { maxLiveGrants: 5 })),
        )
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r) => r.status === 'rejected')
        expect(won).toHaveLength(1)
        expect(lost).toHaveLength(19)
        for (const r of lost) expect(r.reason).toMatchObject({ code: 'quota_exceeded' })
        expect(await store.countLiveGrants(client)).toBe(5)
        expect(await store.listGrants({ clientId: client })).toHaveLength(5)
      })

      it('revokes a live grant, leaving a tombstone with who, why and when', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        const at = Math.floor(now() / 1000)
        const revoked = await store.revokeGrant(client, grant.id, {
          by: 'client:ops',
          reason: 'leaked in a log',
          at,
        })
        expect(revoked).toEqual(grant)
        expect(await store.getGrant(client, grant.id)).toEqual({
          state: 'revoked',
          revocation: {
            grantId: grant.id,
            clientId: client,
            by: 'client:ops',
            reason: 'leaked in a log',
            at,
            expiresAt: grant.expiresAt,
          },
        })
        expect(await store.countLiveGrants(client)).toBe(0)
        expect(await store.listGrants({ clientId: client })).toEqual([])
        expect(await store.listGrants({ clientId: client, taskId: grant.task.id })).toEqual([])
      })

      it('returns null when revoking twice, keeping the first tombstone', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        expect(await store.revokeGrant(client, grant.id, revocation('first'))).toEqual(grant)
        expect(await store.revokeGrant(client, grant.id, revocation('second'))).toBeNull()
        const state = await store.getGrant(client, grant.id)
        expect(state.state === 'revoked' && state.revocation.reason).toBe('first')
      })

      it('lets exactly one of 10 concurrent revocations win', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.revokeGrant(client, grant.id, revocation(`r${i}`)),
          ),
        )
        expect(results.filter((r) => r !== null)).toHaveLength(1)
      })

      it('returns null when revoking an unknown grant, leaving no tombstone', async () => {
        const client = newClient()
        const id = randomUUID()
        expect(await store.revokeGrant(client, id, revocation())).toBeNull()
        expect(await store.getGrant(client, id)).toEqual({ state: 'unknown' })
      })

      it("does not revoke a grant under another client's id", async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        expect(await store.revokeGrant(newClient(), grant.id, revocation())).toBeNull()
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
      })

      it('frees a quota slot when a grant is revoked', async () => {
        const client = newClient()
        const first = makeGrant(client)
        await store.createGrant(first, { maxLiveGrants: 1 })
        await expectQuotaError(store.createGrant(makeGrant(client), { maxLiveGrants: 1 }))
        await store.revokeGrant(client, first.id, revocation())
        await store.createGrant(makeGrant(client), { maxLiveGrants: 1 })
        expect(await store.countLiveGrants(client)).toBe(1)
      })

      it('lists live grants by client and by task, oldest first', async () => {
        const client = newClient()
        const other = newClient()
        const t = Math.floor(now() / 1000)
        // Issued in order g1, g2, g3, but g3 expires first: order follows issuance, not expiry.
        const g1 = makeGrant(client, { task: { id: 'A' }, issuedAt: t, expiresAt: t + 900 })
        const g2 = makeGrant(client, { task: { id: 'B' }, issuedAt: t + 1, expiresAt: t + 800 })
        const g3 = makeGrant(client, { task: { id: 'A' }, issuedAt: t + 2, expiresAt: t + 300 })
        const g4 = makeGrant(client, { task: { id: 'A' }, issuedAt: t + 3, expiresAt: t + 700 })
        for (const g of [g3, g1, g4, g2]) await store.createGrant(g)
        await store.createGrant(makeGrant(other, { task: { id: 'A' } }))

        expect(await store.listGrants({ clientId: client })).toEqual([g1, g2, g3, g4])
        expect(await store.listGrants({ clientId: client, taskId: 'A' })).toEqual([g1, g3, g4])
        expect(await store.listGrants({ clientId: client, taskId: 'B' })).toEqual([g2])
        expect(await store.listGrants({ clientId: client, taskId: 'C' })).toEqual([])

        await store.revokeGrant(client, g1.id, revocation())
        expect(await store.listGrants({ clientId: client })).toEqual([g2, g3, g4])
        expect(await store.listGrants({ clientId: client, taskId: 'A' })).toEqual([g3, g4])
        expect(await store.listGrants({ clientId: newClient() })).toEqual([])
      })

      it('counts live grants per client', async () => {
        const client = newClient()
        expect(await store.countLiveGrants(client)).toBe(0)
        const grants = [makeGrant(client), makeGrant(client), makeGrant(client)]
        for (const g of grants) await store.createGrant(g)
        await store.createGrant(makeGrant(newClient()))
        expect(await store.countLiveGrants(client)).toBe(3)
        await store.revokeGrant(client, grants[0]!.id, revocation())
        expect(await store.countLiveGrants(client)).toBe(2)
      })

      it('hands out copies: callers cannot change stored state', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        const original = structuredClone(grant)
        await store.createGrant(grant)
        grant.task.id = 'mutated'
        grant.authorizationDetails[0]!.actions!.push('write')

        const read = await store.getGrant(client, original.id)
        if (read.state !== 'live') throw new Error('expected live')
        read.grant.ruleIds.push('mutated')
        const listed = await store.listGrants({ clientId: client })
        listed[0]!.authorizationDetails.length = 0
        const reread = await store.getGrant(client, original.id)
        expect(reread).toEqual({ state: 'live', grant: original })

        const revoked = await store.revokeGrant(client, original.id, revocation())
        revoked!.expiresAt = 0
        const tombstone = await store.getGrant(client, original.id)
        if (tombstone.state !== 'revoked') throw new Error('expected revoked')
        tombstone.revocation.reason = 'mutated'
        const again = await store.getGrant(client, original.id)
        expect(again.state === 'revoked' && again.revocation).toMatchObject({
          reason: 'task finished',
          expiresAt: original.expiresAt,
        })
      })

      it('keeps ids containing "{", "}", ":" and "%" apart', async () => {
        // Under naive concatenation (or escaping without escaping '%') these would share keys.
        const c = newClient()
        const pairs: Array<[string, string]> = [
          [`${c}x`, 'y}:g:z'],
          [`${c}x}:g:y`, 'z'],
          [`${c}a{`, 'g1'],
          [`${c}a%7B`, 'g1'],
          [`${c}a}`, 'g1'],
          [`${c}a:`, 'g1'],
        ]
        const grants = pairs.map(([clientId, id]) =>
          makeGrant(clientId, { id, task: { id: `t:${id}}` } }),
        )
        for (const g of grants) await store.createGrant(g, { maxLiveGrants: 1 })
        for (const g of grants) {
          expect(await store.getGrant(g.clientId, g.id)).toEqual({ state: 'live', grant: g })
          expect(await store.listGrants({ clientId: g.clientId })).toEqual([g])
          expect(await store.listGrants({ clientId: g.clientId, taskId: g.task.id })).toEqual([g])
          expect(await store.countLiveGrants(g.clientId)).toBe(1)
        }
        await store.revokeGrant(grants[0]!.clientId, grants[0]!.id, revocation())
        for (const g of grants.slice(1)) {
          expect((await store.getGrant(g.clientId, g.id)).state).toBe('live')
        }
      })
    })

    describe('after grants, tombstones and markers expire', () => {
      const client = newClient('expiry')
      const quotaClient = newClient('expiry-quota')
      const scope = `scope-${randomUUID()}`
      /** A client whose long grant came before a short one (the listing must outlive the short). */
      const indexClient = newClient('expiry-index')
      const indexTask = { id: `task-${randomUUID()}` }
      let short: Grant
      let long: Grant
      let revoked: Grant
      let unrevoked: Grant
      let longFirst: Grant

      beforeAll(async () => {
        const start = now()
        // At least one whole second of life, whatever the sub-second position of `now`.
        const soon = Math.floor(start / 1000) + 2
        short = makeGrant(client, { expiresAt: soon })
        long = makeGrant(client, { expiresAt: soon + 600 })
        revoked = makeGrant(client, { expiresAt: soon })
        unrevoked = makeGrant(client, { expiresAt: soon })
        for (const g of [short, long, revoked, unrevoked]) await store.createGrant(g)
        longFirst = makeGrant(indexClient, { task: indexTask, expiresAt: soon + 600 })
        await store.createGrant(longFirst)
        await store.createGrant(makeGrant(indexClient, { task: indexTask, expiresAt: soon }))
        for (let i = 0; i < 2; i++) {
          await store.createGrant(makeGrant(quotaClient, { expiresAt: soon }), { maxLiveGrants: 2 })
        }
        await expectQuotaError(store.createGrant(makeGrant(quotaClient), { maxLiveGrants: 2 }))
        expect(await store.revokeGrant(client, revoked.id, revocation())).not.toBeNull()
        expect(await all.once.consumeOnce(scope, 'marker', 1)).toBe(true)
        expect(await store.countLiveGrants(client)).toBe(3)

        await passTime(Math.max(soon * 1000, start + 1000) + 50)
      })

      it('reads an expired grant as unknown', async () => {
        expect(await store.getGrant(client, short.id)).toEqual({ state: 'unknown' })
        expect(await store.getGrant(client, long.id)).toEqual({ state: 'live', grant: long })
      })

      it('neither counts nor lists expired grants', async () => {
        expect(await store.countLiveGrants(client)).toBe(1)
        expect(await store.listGrants({ clientId: client })).toEqual([long])
        expect(await store.listGrants({ clientId: client, taskId: long.task.id })).toEqual([long])
      })

      it('still reaches a client whose shorter, later grant expired: listing and by task', async () => {
        expect(await store.listGrants({})).toContainEqual(longFirst)
        expect(await store.listGrants({ taskId: indexTask.id })).toEqual([longFirst])
        expect(await store.revokeByTask(indexTask.id, revocation())).toBe(1)
        expect((await store.getGrant(indexClient, longFirst.id)).state).toBe('revoked')
      })

      it('does not count expired grants toward the quota', async () => {
        await store.createGrant(makeGrant(quotaClient), { maxLiveGrants: 2 })
        await store.createGrant(makeGrant(quotaClient), { maxLiveGrants: 2 })
        await expectQuotaError(store.createGrant(makeGrant(quotaClient), { maxLiveGrants: 2 }))
      })

      it("keeps a tombstone only until the grant's original expiry", async () => {
        expect(await store.getGrant(client, revoked.id)).toEqual({ state: 'unknown' })
      })

      it('does not revoke an expired grant, nor leave a tombstone for it', async () => {
        expect(await store.revokeGrant(client, unrevoked.id, revocation())).toBeNull()
        expect(await store.getGrant(client, unrevoked.id)).toEqual({ state: 'unknown' })
      })

      it('lets a single-use marker be consumed again after its ttl', async () => {
        expect(await all.once.consumeOnce(scope, 'marker', 1)).toBe(true)
        expect(await all.once.consumeOnce(scope, 'marker', 1)).toBe(false)
      })

      it('finds neither an expired grant nor an expired tombstone by id', async () => {
        expect(await store.findGrant(short.id)).toEqual({ state: 'unknown' })
        expect(await store.findGrant(revoked.id)).toEqual({ state: 'unknown' })
        expect(await store.findGrant(long.id)).toEqual({ state: 'live', grant: long })
      })

      it('leaves expired grants out of bulk revocations and their counts', async () => {
        expect(await store.revokeByClient(client, revocation())).toBe(1)
        expect(await store.getGrant(client, short.id)).toEqual({ state: 'unknown' })
        expect((await store.getGrant(client, long.id)).state).toBe('revoked')
      })
    })

    describe('revocation', () => {
      const messages: RevocationMessage[] = []
      let unsubscribe: () => Promise<void>

      beforeAll(async () => {
        unsubscribe = await all.revocations.subscribeRevocations((m) => messages.push(m))
      })
      afterAll(async () => {
        await unsubscribe()
      })

      /**
       * The messages published since `from`, once they have all arrived: revokes a marker grant and
       * waits for its message, which comes after every message published before it.
       */
      const publishedSince = async (from: number): Promise<RevocationMessage[]> => {
        const marker = makeGrant(newClient('marker'))
        await store.createGrant(marker)
        await store.revokeGrant(marker.clientId, marker.id, revocation())
        const arrived = (): boolean => idsIn(messages.slice(from)).includes(marker.id)
        await eventually(arrived, 'the marker message')
        const all = messages.slice(from)
        return all.slice(0, all.length - 1)
      }

      /** Where the messages of what comes next will start, once earlier ones have all arrived. */
      const mark = async (): Promise<number> => {
        await publishedSince(messages.length)
        return messages.length
      }

      const approval = (...subs: string[]): GrantApproval => ({
        id: randomUUID(),
        manifestSha256: 'ab'.repeat(32),
        approvers: subs.map((sub, i) => ({
          sub,
          aaguid: '00000000-0000-0000-0000-000000000000',
          credentialId: `cred-${i}`,
          at: Math.floor(now() / 1000),
        })),
      })

      const createAll = async (grants: Grant[]): Promise<void> => {
        for (let i = 0; i < grants.length; i += 100) {
          await Promise.all(grants.slice(i, i + 100).map((g) => store.createGrant(g)))
        }
      }

      const stateOf = async (g: Grant) => (await store.getGrant(g.clientId, g.id)).state

      it('publishes one message for each grant revoked by id, and none when nothing was', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        const from = await mark()
        await store.revokeGrant(client, grant.id, revocation())
        await store.revokeGrant(client, grant.id, revocation('again'))
        await store.revokeGrant(client, randomUUID(), revocation())
        expect(await publishedSince(from)).toEqual([
          { v: 1, grants: [{ id: grant.id, clientId: client, exp: grant.expiresAt }] },
        ])
      })

      it("revokes a task's live grants of every client, and nothing else", async () => {
        const [a, b, c] = [newClient('a'), newClient('b'), newClient('c')]
        const task = { id: `task-${randomUUID()}` }
        const hit = [makeGrant(a, { task }), makeGrant(a, { task }), makeGrant(b, { task })]
        // No caller names the clients: a client no list mentions is reached as well.
        hit.push(makeGrant(c, { task }))
        const spared = [makeGrant(a), makeGrant(c)]
        await createAll([...hit, ...spared])
        const from = await mark()
        const at = Math.floor(now() / 1000)
        const by = { by: 'admin', reason: 'task cancelled', at }
        expect(await store.revokeByTask(task.id, by)).toBe(4)
        for (const g of hit) {
          expect(await store.getGrant(g.clientId, g.id)).toEqual({
            state: 'revoked',
            revocation: { grantId: g.id, clientId: g.clientId, ...by, expiresAt: g.expiresAt },
          })
        }
        for (const g of spared) expect(await stateOf(g)).toBe('live')
        expect(await store.listGrants({ clientId: a, taskId: task.id })).toEqual([])
        expect(await store.countLiveGrants(a)).toBe(1)
        const published = await publishedSince(from)
        expect(idsIn(published).sort()).toEqual(hit.map((g) => g.id).sort())
        expect(published.flatMap((m) => ('grants' in m ? m.grants : []))).toContainEqual({
          id: hit[2]!.id,
          clientId: b,
          exp: hit[2]!.expiresAt,
        })
        expect(await store.listGrants({ taskId: task.id })).toEqual([])
        expect(await store.revokeByTask(task.id, by)).toBe(0)
      })

      it('revokes every live grant of one client, and nothing of another', async () => {
        const client = newClient()
        const other = newClient()
        const grants = [makeGrant(client), makeGrant(client, { task: { id: 'x' } })]
        grants.push(makeGrant(client))
        const kept = makeGrant(other)
        await createAll([...grants, kept])
        await store.revokeGrant(client, grants[0]!.id, revocation('earlier'))
        const from = await mark()
        expect(await store.revokeByClient(client, revocation('client retired'))).toBe(2)
        expect(await store.countLiveGrants(client)).toBe(0)
        expect(await store.listGrants({ clientId: client })).toEqual([])
        const first = await store.getGrant(client, grants[0]!.id)
        expect(first.state === 'revoked' && first.revocation.reason).toBe('earlier')
        const last = await store.getGrant(client, grants[2]!.id)
        expect(last.state === 'revoked' && last.revocation.reason).toBe('client retired')
        expect(await stateOf(kept)).toBe('live')
        const expected = [grants[1]!.id, grants[2]!.id].sort()
        expect(idsIn(await publishedSince(from)).sort()).toEqual(expected)
        expect(await store.revokeByClient(client, revocation())).toBe(0)
        // The quota is freed at once.
        await store.createGrant(makeGrant(client), { maxLiveGrants: 1 })
      })

      it('revokes in batches, publishing one message per batch', async () => {
        const size = h.revocationBatchSize ?? DEFAULT_REVOCATION_BATCH_SIZE
        const client = newClient('bulk')
        const grants = Array.from({ length: 2 * size + 7 }, () => makeGrant(client))
        await createAll(grants)
        const from = await mark()
        expect(await store.revokeByClient(client, revocation('bulk'))).toBe(grants.length)
        expect(await store.countLiveGrants(client)).toBe(0)
        const published = await publishedSince(from)
        expect(published.map((m) => ('grants' in m ? m.grants.length : 'all'))).toEqual([
          size,
          size,
          7,
        ])
        expect(new Set(idsIn(published))).toEqual(new Set(grants.map((g) => g.id)))
        for (const g of [grants[0]!, grants[size]!, grants.at(-1)!]) {
          expect(await stateOf(g)).toBe('revoked')
        }
      })

      it('revokes everything of every client, announcing it first', async () => {
        // A store of its own: revoke-all reaches every grant the store holds, exactly.
        const own = await makeStore()
        const got: RevocationMessage[] = []
        await own.store.revocations.subscribeRevocations((m) => got.push(m))
        const [a, b, c] = [newClient('a'), newClient('b'), newClient('c')]
        const grants = [makeGrant(a), makeGrant(a), makeGrant(b), makeGrant(c)]
        for (const g of grants) await own.store.grants.createGrant(g)
        const earlier = makeGrant(b)
        await own.store.grants.createGrant(earlier)
        await own.store.grants.revokeGrant(b, earlier.id, revocation('earlier'))
        await eventually(() => got.length === 1, 'the first revocation message')
        const listed = (await own.store.grants.listGrants({})).map((g) => g.id)
        expect(listed.sort()).toEqual(grants.map((g) => g.id).sort())
        expect(await own.store.grants.revokeAll(revocation('incident'))).toBe(4)
        for (const g of grants) {
          expect((await own.store.grants.getGrant(g.clientId, g.id)).state).toBe('revoked')
        }
        const first = await own.store.grants.getGrant(b, earlier.id)
        expect(first.state === 'revoked' && first.revocation.reason).toBe('earlier')
        expect(await own.store.grants.listGrants({})).toEqual([])
        const done = (): boolean => idsIn(got).length === 1 + grants.length
        await eventually(done, 'every revocation message')
        const published = got.slice(1)
        expect(published[0]).toEqual({ v: 1, all: true })
        expect(published.filter((m) => 'all' in m)).toHaveLength(1)
        expect(idsIn(published).sort()).toEqual(grants.map((g) => g.id).sort())
        expect(await own.store.grants.revokeAll(revocation('again'))).toBe(0)
        await own.store.close()
        await own.cleanup()
      })

      it('revokes every live grant an approver took part in, across clients', async () => {
        const alice = `alice+${randomUUID()}@example.com`
        const bob = `bob:{${randomUUID()}}@example.com`
        const [a, b] = [newClient('a'), newClient('b')]
        const byAlice = makeGrant(a, { approval: approval(alice) })
        const byBoth = makeGrant(b, { approval: approval(bob, alice) })
        const byBob = makeGrant(a, { approval: approval(bob) })
        const unapproved = makeGrant(a)
        const gone = makeGrant(b, { approval: approval(alice) })
        await createAll([byAlice, byBoth, byBob, unapproved, gone])
        // Its approver index entry stays behind: revocation by approver must step over it.
        await store.revokeGrant(b, gone.id, revocation('revoked first'))
        const from = await mark()
        expect(await store.revokeByApprover(alice, revocation('key lost'))).toBe(2)
        expect(await stateOf(byAlice)).toBe('revoked')
        expect(await stateOf(byBoth)).toBe('revoked')
        expect(await stateOf(byBob)).toBe('live')
        expect(await stateOf(unapproved)).toBe('live')
        const first = await store.getGrant(b, gone.id)
        expect(first.state === 'revoked' && first.revocation.reason).toBe('revoked first')
        expect(idsIn(await publishedSince(from)).sort()).toEqual([byAlice.id, byBoth.id].sort())
        expect(await store.revokeByApprover(alice, revocation())).toBe(0)
        expect(await store.revokeByApprover(`nobody-${randomUUID()}`, revocation())).toBe(0)
      })

      it('refuses a grant carrying an approval of another manifest, and records nothing', async () => {
        const client = newClient()
        const grant = makeGrant(client, { approval: { ...approval('carol@example.com'), manifestSha256: 'cd'.repeat(32) } })
        await expect(store.createGrant(grant)).rejects.toThrow(/approval of another manifest/)
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'unknown' })
        expect(await store.countLiveGrants(client)).toBe(0)
      })

      it('finds a grant by its id alone: live, then its tombstone', async () => {
        const client = newClient()
        const grant = makeGrant(client, { approval: approval('carol@example.com') })
        await store.createGrant(grant)
        expect(await store.findGrant(grant.id)).toEqual({ state: 'live', grant })
        await store.revokeGrant(client, grant.id, revocation('found'))
        const found = await store.findGrant(grant.id)
        expect(found.state === 'revoked' && found.revocation).toMatchObject({
          grantId: grant.id,
          clientId: client,
          reason: 'found',
        })
        expect(await store.findGrant(randomUUID())).toEqual({ state: 'unknown' })
      })

      it('does not let a refused grant take over the id pointer of a live one', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        const intruder = { ...grant, clientId: newClient('intruder') }
        await expectQuotaError(store.createGrant(intruder, { maxLiveGrants: 0 }))
        expect(await store.findGrant(grant.id)).toEqual({ state: 'live', grant })
      })

      it('lists the live grants of every client, oldest first', async () => {
        // A store of its own: the listing shows every live grant the store holds, exactly.
        const own = await makeStore()
        expect(await own.store.grants.listGrants({})).toEqual([])
        const [a, b, c] = [newClient('a'), newClient('b'), newClient('c')]
        const t = Math.floor(now() / 1000)
        const g1 = makeGrant(b, { issuedAt: t, expiresAt: t + 900 })
        const g2 = makeGrant(a, { issuedAt: t + 1, expiresAt: t + 900, task: { id: 'T' } })
        const g3 = makeGrant(b, { issuedAt: t + 2, expiresAt: t + 900, task: { id: 'T' } })
        const g4 = makeGrant(a, { issuedAt: t + 3, expiresAt: t + 900 })
        const g5 = makeGrant(c, { issuedAt: t + 4, expiresAt: t + 900, task: { id: 'T' } })
        for (const g of [g5, g4, g3, g2, g1]) await own.store.grants.createGrant(g)
        await own.store.grants.revokeGrant(a, g4.id, revocation())
        expect(await own.store.grants.listGrants({})).toEqual([g1, g2, g3, g5])
        expect(await own.store.grants.listGrants({ taskId: 'T' })).toEqual([g2, g3, g5])
        expect(await own.store.grants.listGrants({ taskId: 'none' })).toEqual([])
        // Revoking every grant of a client leaves nothing of it listed.
        await own.store.grants.revokeByClient(b, revocation())
        expect(await own.store.grants.listGrants({})).toEqual([g2, g5])
        await own.store.close()
        await own.cleanup()
      })

      it('stops delivering after unsubscribe, and reports down when the store closes', async () => {
        const own = await makeStore()
        const got: RevocationMessage[] = []
        const states: SubscriptionState[] = []
        const gone: RevocationMessage[] = []
        const stop = await own.store.revocations.subscribeRevocations((m) => gone.push(m))
        await stop()
        await stop()
        await own.store.revocations.subscribeRevocations(
          (m) => got.push(m),
          (s) => states.push(s),
        )
        const client = newClient()
        const grant = makeGrant(client)
        await own.store.grants.createGrant(grant)
        await own.store.grants.revokeGrant(client, grant.id, revocation())
        await eventually(() => got.length === 1, 'the revocation message')
        expect(gone).toEqual([])
        expect(states).toEqual([])
        await own.store.close()
        expect(states).toEqual(['down'])
        await expect(own.store.revocations.subscribeRevocations(() => {})).rejects.toMatchObject({
          code: 'temporarily_unavailable',
        })
        await own.cleanup()
      })

      it('keeps revoking when a subscriber throws', async () => {
        const stop = await all.revocations.subscribeRevocations(() => {
          throw new Error('subscriber bug')
        })
        const client = newClient()
        const grants = [makeGrant(client), makeGrant(client)]
        await createAll(grants)
        expect(await store.revokeGrant(client, grants[0]!.id, revocation())).not.toBeNull()
        expect(await store.revokeByClient(client, revocation())).toBe(1)
        await stop()
      })
    })

    describe('delegation (children of a grant)', () => {
      const messages: RevocationMessage[] = []
      let unsubscribe: () => Promise<void>
      beforeAll(async () => {
        unsubscribe = await all.revocations.subscribeRevocations((m) => messages.push(m))
      })
      afterAll(async () => {
        await unsubscribe()
      })

      const refOf = (g: Grant) => ({ clientId: g.clientId, grantId: g.id })
      const stateOf = async (g: Grant) => (await store.getGrant(g.clientId, g.id)).state

      /** A root grant, a child under it (another client) and a grandchild (a third client). */
      const chain = async () => {
        const root = makeGrant(newClient('root'))
        const child = makeGrant(newClient('child'), { expiresAt: root.expiresAt - 10 })
        const grandchild = makeGrant(newClient('grandchild'), { expiresAt: root.expiresAt - 20 })
        await store.createGrant(root)
        await store.createGrant(child, { parent: refOf(root) })
        await store.createGrant(grandchild, { parent: refOf(child) })
        return { root, child, grandchild }
      }

      it('lists a grant created with a parent under that parent, and the parent among parents', async () => {
        const { root, child, grandchild } = await chain()
        expect(await store.listChildren(refOf(root))).toEqual([refOf(child)])
        expect(await store.listChildren(refOf(child))).toEqual([refOf(grandchild)])
        expect(await store.listChildren(refOf(grandchild))).toEqual([])
        const parents = await store.listParents()
        expect(parents).toContainEqual(refOf(root))
        expect(parents).toContainEqual(refOf(child))
        expect(parents).not.toContainEqual(refOf(grandchild))
      })

      it('refuses a child whose parent is revoked, unknown or expired, and leaves nothing live', async () => {
        const parent = makeGrant(newClient('parent'))
        await store.createGrant(parent)
        await store.revokeGrant(parent.clientId, parent.id, revocation())
        const orphan = makeGrant(newClient('orphan'))
        await expect(store.createGrant(orphan, { parent: refOf(parent) })).rejects.toMatchObject({
          code: 'invalid_request',
          status: 400,
        })
        expect(await stateOf(orphan)).not.toBe('live')
        expect(await store.listGrants({ clientId: orphan.clientId })).toEqual([])
        const unknown = makeGrant(newClient('orphan'))
        await expect(
          store.createGrant(unknown, { parent: { clientId: parent.clientId, grantId: randomUUID() } }),
        ).rejects.toMatchObject({ code: 'invalid_request' })
        expect(await stateOf(unknown)).not.toBe('live')
      })

      it('refuses a child whose parent is live but a grant above it is not, and leaves nothing live', async () => {
        const root = makeGrant(newClient('root'))
        const parent = makeGrant(newClient('parent'))
        await store.createGrant(root)
        await store.createGrant(parent, { parent: refOf(root), ancestors: [refOf(root)] })
        await store.revokeGrant(root.clientId, root.id, revocation())
        expect(await stateOf(parent)).toBe('live')
        const child = makeGrant(newClient('child'))
        await expect(
          store.createGrant(child, { parent: refOf(parent), ancestors: [refOf(root), refOf(parent)] }),
        ).rejects.toMatchObject({
          code: 'invalid_request',
          status: 400,
          message: `subject_token: grant ${root.id}, which it was delegated from, is not live`,
        })
        expect(await stateOf(child)).not.toBe('live')
        expect(await store.listGrants({ clientId: child.clientId })).toEqual([])
        // A chain that does not end with the parent is a caller's mistake, refused before anything.
        const stray = makeGrant(newClient('child'))
        await expect(store.createGrant(stray, { parent: refOf(parent), ancestors: [refOf(root)] })).rejects.toThrow(
          /ancestors must end with its parent/,
        )
      })

      it('revokes the listed grants that are live, one message per batch, and counts them', async () => {
        const client = newClient()
        const grants = [makeGrant(client), makeGrant(client), makeGrant(newClient())]
        for (const g of grants) await store.createGrant(g)
        await store.revokeGrant(client, grants[0]!.id, revocation())
        await eventually(() => idsIn(messages).includes(grants[0]!.id), 'the first revocation')
        const from = messages.length
        const refs = [...grants.map(refOf), { clientId: client, grantId: randomUUID() }]
        expect(await store.revokeMany(refs, revocation('cascade'))).toBe(2)
        for (const g of grants) expect(await stateOf(g)).toBe('revoked')
        await eventually(() => idsIn(messages.slice(from)).length === 2, 'the batch messages')
        expect(idsIn(messages.slice(from)).sort()).toEqual([grants[1]!.id, grants[2]!.id].sort())
        expect(await store.revokeMany(refs, revocation('again'))).toBe(0)
      })

      it('forgets children once they have expired', async () => {
        const parent = makeGrant(newClient('parent'))
        const child = makeGrant(newClient('child'), { expiresAt: Math.floor(now() / 1000) + 2 })
        await store.createGrant(parent)
        await store.createGrant(child, { parent: refOf(parent) })
        expect(await store.listChildren(refOf(parent))).toEqual([refOf(child)])
        await passTime(child.expiresAt * 1000 + 1)
        expect(await store.listChildren(refOf(parent))).toEqual([])
        expect(await store.listParents()).not.toContainEqual(refOf(parent))
      })
    })

    describe('close', () => {
      it('fails closed after close(), on every port, and close() may be called twice', async () => {
        const own = await makeStore()
        const client = newClient()
        await own.store.grants.createGrant(makeGrant(client))
        await own.store.close()
        await own.store.close()
        for (const call of [
          own.store.grants.getGrant(client, 'x'),
          own.store.ping(),
          own.store.grants.createGrant(makeGrant(client)),
          own.store.once.consumeOnce('scope', 'id', 60),
          own.store.settings.initSetting('name', 'value'),
          own.store.keySets.getKeySet(),
          own.store.keySets.putKeySet('data', null),
          own.store.revocations.subscribeRevocations(() => {}),
        ]) {
          await expect(call).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503 })
        }
        await own.cleanup()
      })
    })
  })
}
