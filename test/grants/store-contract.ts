import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import type { Grant } from '../../src/grants/grant.js'
import type { GrantStore } from '../../src/grants/store.js'

export type ManualClock = ReturnType<typeof manualClock>

/** One store under test. Without `clock` the store runs on real time and the suite sleeps. */
export interface StoreHarness {
  store: GrantStore
  /** The store's clock, when the suite may move time by hand. */
  clock?: ManualClock
  cleanup(): Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

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

    beforeAll(async () => {
      h = await makeStore()
      store = h.store
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
        expect(['memory', 'redis']).toContain(store.kind)
      })

      it('answers ping while it can serve', async () => {
        await expect(store.ping()).resolves.toBeUndefined()
      })

      it('records a grant and reads it back as live', async () => {
        const client = newClient()
        const grant = makeGrant(client)
        await store.createGrant(grant)
        expect(await store.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
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
      let short: Grant
      let long: Grant
      let revoked: Grant
      let unrevoked: Grant

      beforeAll(async () => {
        const start = now()
        // At least one whole second of life, whatever the sub-second position of `now`.
        const soon = Math.floor(start / 1000) + 2
        short = makeGrant(client, { expiresAt: soon })
        long = makeGrant(client, { expiresAt: soon + 600 })
        revoked = makeGrant(client, { expiresAt: soon })
        unrevoked = makeGrant(client, { expiresAt: soon })
        for (const g of [short, long, revoked, unrevoked]) await store.createGrant(g)
        for (let i = 0; i < 2; i++) {
          await store.createGrant(makeGrant(quotaClient, { expiresAt: soon }), { maxLiveGrants: 2 })
        }
        await expectQuotaError(store.createGrant(makeGrant(quotaClient), { maxLiveGrants: 2 }))
        expect(await store.revokeGrant(client, revoked.id, revocation())).not.toBeNull()
        expect(await store.consumeOnce(scope, 'marker', 1)).toBe(true)
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
        expect(await store.consumeOnce(scope, 'marker', 1)).toBe(true)
        expect(await store.consumeOnce(scope, 'marker', 1)).toBe(false)
      })
    })

    describe('single-use markers', () => {
      it('consumes a marker once, then refuses it', async () => {
        const scope = `scope-${randomUUID()}`
        expect(await store.consumeOnce(scope, 'challenge-1', 60)).toBe(true)
        expect(await store.consumeOnce(scope, 'challenge-1', 60)).toBe(false)
        expect(await store.consumeOnce(scope, 'challenge-2', 60)).toBe(true)
        expect(await store.consumeOnce(`${scope}-other`, 'challenge-1', 60)).toBe(true)
      })

      it('keeps scope and id apart when they contain ":"', async () => {
        const scope = `scope-${randomUUID()}`
        expect(await store.consumeOnce(`${scope}:a`, 'b', 60)).toBe(true)
        expect(await store.consumeOnce(scope, 'a:b', 60)).toBe(true)
        expect(await store.consumeOnce(`${scope}:a:b`, '', 60)).toBe(true)
      })

      it('lets exactly one of 20 concurrent consumers take a marker', async () => {
        const scope = `scope-${randomUUID()}`
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.consumeOnce(scope, 'jti', 60)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
      })

      it('rejects a ttl that is not a positive whole number of seconds', async () => {
        await expect(store.consumeOnce('scope', 'id', 0)).rejects.toBeInstanceOf(RangeError)
        await expect(store.consumeOnce('scope', 'id', 1.5)).rejects.toBeInstanceOf(RangeError)
      })
    })

    describe('key set', () => {
      it('is empty at first, then compare-and-sets by version', async () => {
        expect(await store.getKeySet()).toBeNull()
        expect(await store.putKeySet('v1', 1)).toBe(false)
        expect(await store.putKeySet('v1', 0)).toBe(false)
        expect(await store.getKeySet()).toBeNull()

        expect(await store.putKeySet('v1', null)).toBe(true)
        expect(await store.getKeySet()).toEqual({ version: 1, data: 'v1' })
        expect(await store.putKeySet('conflict', null)).toBe(false)

        expect(await store.putKeySet('v2', 1)).toBe(true)
        expect(await store.putKeySet('stale', 1)).toBe(false)
        expect(await store.putKeySet('future', 3)).toBe(false)
        expect(await store.getKeySet()).toEqual({ version: 2, data: 'v2' })

        const copy = await store.getKeySet()
        copy!.data = 'mutated'
        expect(await store.getKeySet()).toEqual({ version: 2, data: 'v2' })
      })

      it('lets exactly one of 10 concurrent writers of the same version win', async () => {
        const current = await store.getKeySet()
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.putKeySet(`racer-${i}`, current!.version)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        const winner = results.indexOf(true)
        expect(await store.getKeySet()).toEqual({
          version: current!.version + 1,
          data: `racer-${winner}`,
        })
      })
    })

    describe('close', () => {
      it('fails closed after close(), and close() may be called twice', async () => {
        const own = await makeStore()
        const client = newClient()
        await own.store.createGrant(makeGrant(client))
        await own.store.close()
        await own.store.close()
        for (const call of [
          own.store.getGrant(client, 'x'),
          own.store.ping(),
          own.store.createGrant(makeGrant(client)),
          own.store.consumeOnce('scope', 'id', 60),
        ]) {
          await expect(call).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503 })
        }
        await own.cleanup()
      })
    })
  })
}
