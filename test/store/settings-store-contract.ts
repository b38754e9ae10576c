import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../src/open-store.js'
import type { StoreHarness } from '../grants/store-contract.js'

/** The SettingsStore contract, run against every store. */
export function describeSettingsStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`SettingsStore contract: ${name}`, () => {
    let h: StoreHarness
    let all: Store
    beforeAll(async () => {
      h = await makeStore()
      all = h.store
    })
    afterAll(async () => {
      await h.cleanup()
    })

    describe('settings', () => {
      it('keeps the first value written; later writers read it', async () => {
        const name = `setting-${randomUUID()}`
        expect(await all.settings.initSetting(name, 'first')).toBe('first')
        expect(await all.settings.initSetting(name, 'second')).toBe('first')
      })

      it('lets exactly one of 10 concurrent writers win, and all agree on its value', async () => {
        const name = `setting-${randomUUID()}`
        const values = await Promise.all(Array.from({ length: 10 }, (_, i) => all.settings.initSetting(name, `v${i}`)))
        expect(new Set(values).size).toBe(1)
      })
    })
  })
}
