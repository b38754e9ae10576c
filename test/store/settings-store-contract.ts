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

    describe('versioned settings', () => {
      it('reads null before the first write, then each write as the next version', async () => {
        const name = `vsetting-${randomUUID()}`
        expect(await all.settings.settingVersion(name)).toBeNull()
        expect(await all.settings.getVersionedSetting(name)).toBeNull()
        expect(await all.settings.putVersionedSetting(name, 'one', null)).toBe(true)
        expect(await all.settings.getVersionedSetting(name)).toEqual({ version: 1, data: 'one' })
        expect(await all.settings.putVersionedSetting(name, 'two', 1)).toBe(true)
        expect(await all.settings.settingVersion(name)).toBe(2)
        expect(await all.settings.getVersionedSetting(name)).toEqual({ version: 2, data: 'two' })
      })

      it('refuses a write that did not see the current version, and keeps what is there', async () => {
        const name = `vsetting-${randomUUID()}`
        expect(await all.settings.putVersionedSetting(name, 'one', 3)).toBe(false)
        expect(await all.settings.putVersionedSetting(name, 'one', null)).toBe(true)
        expect(await all.settings.putVersionedSetting(name, 'stale', null)).toBe(false)
        expect(await all.settings.putVersionedSetting(name, 'stale', 0)).toBe(false)
        expect(await all.settings.getVersionedSetting(name)).toEqual({ version: 1, data: 'one' })
      })

      it('lets exactly one of 10 concurrent writers of one version win', async () => {
        const name = `vsetting-${randomUUID()}`
        await all.settings.putVersionedSetting(name, 'base', null)
        const won = await Promise.all(
          Array.from({ length: 10 }, (_, i) => all.settings.putVersionedSetting(name, `v${i}`, 1)),
        )
        expect(won.filter(Boolean)).toHaveLength(1)
        const stored = await all.settings.getVersionedSetting(name)
        expect(stored?.version).toBe(2)
        expect(stored?.data).toBe(`v${won.indexOf(true)}`)
      })
    })
  })
}
