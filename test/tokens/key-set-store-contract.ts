import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../src/open-store.js'
import { keySetMessage, type RevocationMessage } from '../../src/wire/revocation-message.js'
import { eventually, type StoreHarness } from '../grants/store-contract.js'

/**
 * The KeySetStore contract, run against every store: compare-and-set by version, and the
 * announcement on the revocation feed in the same step as a write that succeeded.
 */
export function describeKeySetStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`KeySetStore contract: ${name}`, () => {
    let h: StoreHarness
    let all: Store
    beforeAll(async () => {
      h = await makeStore()
      all = h.store
    })
    afterAll(async () => {
      await h.cleanup()
    })

    describe('key set', () => {
      it('is empty at first, then compare-and-sets by version', async () => {
        expect(await all.keySets.getKeySet()).toBeNull()
        expect(await all.keySets.putKeySet('v1', 1)).toBe(false)
        expect(await all.keySets.putKeySet('v1', 0)).toBe(false)
        expect(await all.keySets.getKeySet()).toBeNull()

        expect(await all.keySets.putKeySet('v1', null)).toBe(true)
        expect(await all.keySets.getKeySet()).toEqual({ version: 1, data: 'v1' })
        expect(await all.keySets.putKeySet('conflict', null)).toBe(false)

        expect(await all.keySets.putKeySet('v2', 1)).toBe(true)
        expect(await all.keySets.putKeySet('stale', 1)).toBe(false)
        expect(await all.keySets.putKeySet('future', 3)).toBe(false)
        expect(await all.keySets.getKeySet()).toEqual({ version: 2, data: 'v2' })

        const copy = await all.keySets.getKeySet()
        copy!.data = 'mutated'
        expect(await all.keySets.getKeySet()).toEqual({ version: 2, data: 'v2' })
      })

      it('lets exactly one of 10 concurrent writers of the same version win', async () => {
        const current = await all.keySets.getKeySet()
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => all.keySets.putKeySet(`racer-${i}`, current!.version)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        const winner = results.indexOf(true)
        expect(await all.keySets.getKeySet()).toEqual({
          version: current!.version + 1,
          data: `racer-${winner}`,
        })
      })

      it('announces a written key set in the same step, and nothing when the compare-and-set fails', async () => {
        const heard: RevocationMessage[] = []
        const unsubscribe = await all.revocations.subscribeRevocations((m) => heard.push(m))
        try {
          const version = (await all.keySets.getKeySet())?.version ?? null
          const refused = keySetMessage(['never-announced'])
          expect(await all.keySets.putKeySet('lost', (version ?? 0) + 5, refused)).toBe(false)
          const announced = keySetMessage(['kid-current', 'kid-next'])
          expect(await all.keySets.putKeySet('announced', version, announced)).toBe(true)
          await eventually(() => heard.some((m) => 'keys' in m), 'the key-set announcement')
          expect(heard.filter((m) => 'keys' in m)).toEqual([announced])
          expect(await all.keySets.getKeySet()).toEqual({ version: (version ?? 0) + 1, data: 'announced' })
        } finally {
          await unsubscribe()
        }
      })
    })
  })
}
