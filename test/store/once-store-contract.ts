import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../src/open-store.js'
import type { StoreHarness } from '../grants/store-contract.js'

/** The OnceStore contract (single-use markers), run against every store. */
export function describeOnceStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`OnceStore contract: ${name}`, () => {
    let h: StoreHarness
    let all: Store
    beforeAll(async () => {
      h = await makeStore()
      all = h.store
    })
    afterAll(async () => {
      await h.cleanup()
    })

    describe('single-use markers', () => {
      it('consumes a marker once, then refuses it', async () => {
        const scope = `scope-${randomUUID()}`
        expect(await all.once.consumeOnce(scope, 'challenge-1', 60)).toBe(true)
        expect(await all.once.consumeOnce(scope, 'challenge-1', 60)).toBe(false)
        expect(await all.once.consumeOnce(scope, 'challenge-2', 60)).toBe(true)
        expect(await all.once.consumeOnce(`${scope}-other`, 'challenge-1', 60)).toBe(true)
      })

      it('keeps scope and id apart when they contain ":"', async () => {
        const scope = `scope-${randomUUID()}`
        expect(await all.once.consumeOnce(`${scope}:a`, 'b', 60)).toBe(true)
        expect(await all.once.consumeOnce(scope, 'a:b', 60)).toBe(true)
        expect(await all.once.consumeOnce(`${scope}:a:b`, '', 60)).toBe(true)
      })

      it('lets exactly one of 20 concurrent consumers take a marker', async () => {
        const scope = `scope-${randomUUID()}`
        const results = await Promise.all(
          Array.from({ length: 20 }, () => all.once.consumeOnce(scope, 'jti', 60)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
      })

      it('rejects a ttl that is not a positive whole number of seconds', async () => {
        await expect(all.once.consumeOnce('scope', 'id', 0)).rejects.toBeInstanceOf(RangeError)
        await expect(all.once.consumeOnce('scope', 'id', 1.5)).rejects.toBeInstanceOf(RangeError)
      })
    })
  })
}
