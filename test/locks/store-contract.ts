import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { manualClock } from '../../src/clock.js'
import type { Store } from '../../src/open-store.js'
import type { Lock, LockStore, LockTarget } from '../../src/locks/index.js'
import { testGrant } from '../helpers/grant.js'

/** One store under test: a grant store and the locks it carries. */
export interface LockStoreHarness {
  store: Store
  /** The store's clock, when the suite may move time by hand (else it sleeps). */
  clock?: ReturnType<typeof manualClock>
  cleanup(): Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The LockStore contract, and how `createGrant` honours locks: every implementation must pass it
 * unchanged. Every test uses its own target ids, so tests never see each other's locks.
 */
export function describeLockStoreContract(name: string, make: () => Promise<LockStoreHarness>): void {
  describe(`LockStore contract: ${name}`, () => {
    let h: LockStoreHarness
    let locks: LockStore
    const nowSeconds = (): number => Math.floor((h.clock ? h.clock() : Date.now()) / 1000)
    const lockOn = (target: LockTarget, overrides: Partial<Lock> = {}): Lock => ({
      id: randomUUID(),
      target,
      reason: `reason for ${target.id}`,
      by: 'admin',
      createdAt: nowSeconds(),
      ...overrides,
    })
    const unique = (what: string): string => `${what}-${randomUUID()}`
    /** A grant that lives its full length from the store's clock. */
    const grantOf = (clientId: string, taskId: string) => {
      const issuedAt = nowSeconds()
      return testGrant(clientId, 600, { issuedAt, expiresAt: issuedAt + 600, task: { id: taskId } })
    }

    beforeAll(async () => {
      h = await make()
      locks = h.store.locks
    })
    afterAll(async () => {
      await h.cleanup()
    })

    it('finds an active lock by its target, and no lock for any other target', async () => {
      const client = unique('client')
      const lock = lockOn({ kind: 'client', id: client })
      await locks.putLock(lock)
      expect(await locks.findLock([{ kind: 'client', id: client }])).toEqual(lock)
      expect(await locks.getLock(lock.id)).toEqual(lock)
      expect(await locks.findLock([{ kind: 'task', id: client }, { kind: 'approver', id: client }])).toBeNull()
      expect(await locks.findLock([{ kind: 'client', id: unique('other') }])).toBeNull()
    })

    it('ends a lock on removal, once', async () => {
      const task = unique('task')
      const lock = lockOn({ kind: 'task', id: task })
      await locks.putLock(lock)
      expect(await locks.removeLock(lock.id)).toEqual(lock)
      expect(await locks.removeLock(lock.id)).toBeNull()
      expect(await locks.getLock(lock.id)).toBeNull()
      expect(await locks.findLock([{ kind: 'task', id: task }])).toBeNull()
      expect((await locks.listLocks()).map((l) => l.id)).not.toContain(lock.id)
    })

    it('keeps a target locked while any of its locks stands', async () => {
      const approver = unique('alice@example.com')
      const first = lockOn({ kind: 'approver', id: approver })
      const second = lockOn({ kind: 'approver', id: approver })
      await locks.putLock(first)
      await locks.putLock(second)
      await locks.removeLock(first.id)
      expect(await locks.findLock([{ kind: 'approver', id: approver }])).toEqual(second)
      await locks.removeLock(second.id)
      expect(await locks.findLock([{ kind: 'approver', id: approver }])).toBeNull()
    })

    it('lists active locks oldest first', async () => {
      const older = lockOn({ kind: 'client', id: unique('a') }, { createdAt: nowSeconds() - 10 })
      const newer = lockOn({ kind: 'task', id: unique('b') })
      await locks.putLock(newer)
      await locks.putLock(older)
      const ids = (await locks.listLocks()).map((l) => l.id)
      expect(ids.indexOf(older.id)).toBeGreaterThanOrEqual(0)
      expect(ids.indexOf(older.id)).toBeLessThan(ids.indexOf(newer.id))
      await locks.removeLock(older.id)
      await locks.removeLock(newer.id)
    })

    it('refuses a lock id in use, keeping the first lock', async () => {
      const lock = lockOn({ kind: 'client', id: unique('client') })
      await locks.putLock(lock)
      const other = { ...lock, target: { kind: 'client' as const, id: unique('client') }, reason: 'replaced' }
      await expect(locks.putLock(other)).rejects.toMatchObject({ code: 'server_error' })
      expect(await locks.getLock(lock.id)).toEqual(lock)
      await locks.removeLock(lock.id)
    })

    it('ends a lock with a TTL by itself', async () => {
      const client = unique('client')
      const lock = lockOn({ kind: 'client', id: client }, { expiresAt: nowSeconds() + 1 })
      await locks.putLock(lock)
      expect(await locks.findLock([{ kind: 'client', id: client }])).toEqual(lock)
      if (h.clock) h.clock.advance(1000)
      else await sleep((lock.expiresAt! * 1000 - Date.now()) + 20)
      expect(await locks.findLock([{ kind: 'client', id: client }])).toBeNull()
      expect(await locks.getLock(lock.id)).toBeNull()
      expect((await locks.listLocks()).map((l) => l.id)).not.toContain(lock.id)
      // Ensure nothing stays refused once the lock ended.
      await h.store.grants.createGrant(grantOf(client, 'T'), { unlessLocked: [{ kind: 'client', id: client }] })
    })

    describe('createGrant with unlessLocked', () => {
      it('records nothing for a locked client and names the lock; records once it is removed', async () => {
        const client = unique('client')
        const lock = lockOn({ kind: 'client', id: client })
        await locks.putLock(lock)
        const grant = grantOf(client, 'T')
        const guard = [{ kind: 'client' as const, id: client }, { kind: 'task' as const, id: 'T' }]
        const refused = h.store.grants.createGrant(grant, { unlessLocked: guard })
        await expect(refused).rejects.toMatchObject({ code: 'access_denied', status: 403 })
        await expect(h.store.grants.createGrant(grant, { unlessLocked: guard })).rejects.toThrow(
          new RegExp(`lock ${lock.id}: reason for ${client}`),
        )
        expect(await h.store.grants.getGrant(client, grant.id)).toEqual({ state: 'unknown' })
        expect(await h.store.grants.countLiveGrants(client)).toBe(0)
        await locks.removeLock(lock.id)
        await h.store.grants.createGrant(grant, { unlessLocked: guard })
        expect((await h.store.grants.getGrant(client, grant.id)).state).toBe('live')
      })

      it('refuses a locked task for every client, and a locked approver', async () => {
        const task = unique('task')
        const approver = unique('bob@example.com')
        const taskLock = lockOn({ kind: 'task', id: task })
        const approverLock = lockOn({ kind: 'approver', id: approver })
        await locks.putLock(taskLock)
        await locks.putLock(approverLock)
        for (const client of [unique('a'), unique('b')]) {
          const guard = [{ kind: 'client' as const, id: client }, { kind: 'task' as const, id: task }]
          await expect(h.store.grants.createGrant(grantOf(client, task), { unlessLocked: guard })).rejects.toThrow(
            new RegExp(`task ${task} is locked \\(lock ${taskLock.id}`),
          )
          expect(await h.store.grants.countLiveGrants(client)).toBe(0)
        }
        const client = unique('c')
        const guard = [
          { kind: 'client' as const, id: client },
          { kind: 'task' as const, id: 'other' },
          { kind: 'approver' as const, id: approver },
        ]
        await expect(h.store.grants.createGrant(grantOf(client, 'other'), { unlessLocked: guard })).rejects.toThrow(
          new RegExp(`approver ${approver} is locked \\(lock ${approverLock.id}`),
        )
        expect(await h.store.grants.countLiveGrants(client)).toBe(0)
        await locks.removeLock(taskLock.id)
        await locks.removeLock(approverLock.id)
      })

      it('ignores locks on targets it was not asked to honour', async () => {
        const client = unique('client')
        const lock = lockOn({ kind: 'client', id: client })
        await locks.putLock(lock)
        await h.store.grants.createGrant(grantOf(client, 'T'))
        expect(await h.store.grants.countLiveGrants(client)).toBe(1)
        await locks.removeLock(lock.id)
      })
    })
  })
}
