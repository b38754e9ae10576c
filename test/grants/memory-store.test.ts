import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/open-store.js'
import { describeOnceStoreContract } from '../store/once-store-contract.js'
import { describeSettingsStoreContract } from '../store/settings-store-contract.js'
import { describeKeySetStoreContract } from '../tokens/key-set-store-contract.js'
import { describeStoreContract, type StoreHarness } from './store-contract.js'
import type { Grant } from '../../src/grants/grant.js'

const memoryStore = async (): Promise<StoreHarness> => {
  const clock = manualClock()
  const store = createMemoryStore({ clock })
  return { store, clock, cleanup: () => store.close() }
}

describeStoreContract('memory', memoryStore)
describeOnceStoreContract('memory', memoryStore)
describeSettingsStoreContract('memory', memoryStore)
describeKeySetStoreContract('memory', memoryStore)

describe('memory store sweep', () => {
  const grant = (id: string, clientId: string, nowMs: number, lifeSeconds: number): Grant => {
    const issuedAt = Math.floor(nowMs / 1000)
    return {
      id,
      clientId,
      task: { id: 'task' },
      manifestSha256: '00'.repeat(32),
      authorizationDetails: [{ type: 'repo' }],
      ruleIds: ['r'],
      issuedAt,
      expiresAt: issuedAt + lifeSeconds,
    }
  }

  it('drops expired records and keeps every live one, tombstone and marker', async () => {
    const clock = manualClock()
    const store = createMemoryStore({ clock, sweepThreshold: 2 })
    const long = grant('long', 'c1', clock(), 3600)
    const revoked = grant('revoked', 'c1', clock(), 3600)
    await store.grants.createGrant(long)
    await store.grants.createGrant(revoked)
    await store.grants.revokeGrant('c1', 'revoked', { by: 'admin', reason: 'test', at: 0 })
    expect(await store.once.consumeOnce('scope', 'kept', 3600)).toBe(true)
    // Many short-lived records, each insert past the threshold triggers a sweep.
    for (let i = 0; i < 50; i++) {
      await store.grants.createGrant(grant(`short-${i}`, `c${i % 5}`, clock(), 1))
      expect(await store.once.consumeOnce('scope', `short-${i}`, 1)).toBe(true)
      clock.advance(1500)
    }
    expect(await store.grants.getGrant('c1', 'long')).toEqual({ state: 'live', grant: long })
    expect((await store.grants.getGrant('c1', 'revoked')).state).toBe('revoked')
    expect(await store.once.consumeOnce('scope', 'kept', 3600)).toBe(false)
    expect(await store.grants.countLiveGrants('c1')).toBe(1)
    expect(await store.once.consumeOnce('scope', 'short-0', 1)).toBe(true)
    await store.close()
  })
})
