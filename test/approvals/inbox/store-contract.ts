import { describe, expect, it } from 'vitest'
import type { InboxStore } from '../../../src/approvals/inbox/store.js'
import type { manualClock } from '../../../src/clock.js'

/** A store to test and the clock that decides its expiries. */
export interface InboxStoreUnderTest {
  store: InboxStore
  clock: ReturnType<typeof manualClock>
}

/** The behaviour every {@link InboxStore} implementation must have. */
export function describeInboxStoreContract(name: string, open: () => Promise<InboxStoreUnderTest>): void {
  describe(`inbox store contract (${name})`, () => {
    const now = (clock: ReturnType<typeof manualClock>) => Math.floor(clock() / 1000)

    it('hands a sign-in challenge out once', async () => {
      const { store, clock } = await open()
      const challenge = { challenge: 'ch-once', nonce: 'n1', exp: now(clock) + 60 }
      await store.putChallenge(challenge)
      expect(await store.takeChallenge('ch-once')).toEqual(challenge)
      expect(await store.takeChallenge('ch-once')).toBeNull()
      expect(await store.takeChallenge('never-issued')).toBeNull()
    })

    it('gives exactly one of many concurrent takers the challenge', async () => {
      const { store, clock } = await open()
      await store.putChallenge({ challenge: 'ch-race', nonce: 'n', exp: now(clock) + 60 })
      const taken = await Promise.all(Array.from({ length: 20 }, () => store.takeChallenge('ch-race')))
      expect(taken.filter((t) => t !== null)).toHaveLength(1)
    })

    it('refuses a challenge past its expiry, by the clock', async () => {
      const { store, clock } = await open()
      await store.putChallenge({ challenge: 'ch-old', nonce: 'n', exp: now(clock) + 30 })
      clock.advance(31_000)
      expect(await store.takeChallenge('ch-old')).toBeNull()
      // An already expired one is not even kept.
      await store.putChallenge({ challenge: 'ch-dead', nonce: 'n', exp: now(clock) - 1 })
      clock.set(clock() - 120_000)
      expect(await store.takeChallenge('ch-dead')).toBeNull()
    })

    it('keeps a session until its expiry, and ends it when asked', async () => {
      const { store, clock } = await open()
      const session = { sub: 'alice@example.com', credentialId: 'cred-1', createdAt: now(clock), expiresAt: now(clock) + 600 }
      await store.putSession('a'.repeat(64), session)
      expect(await store.getSession('a'.repeat(64))).toEqual(session)
      expect(await store.getSession('b'.repeat(64))).toBeNull()
      clock.advance(599_000)
      expect(await store.getSession('a'.repeat(64))).toEqual(session)
      clock.advance(1_000)
      expect(await store.getSession('a'.repeat(64))).toBeNull()

      const other = { ...session, createdAt: now(clock), expiresAt: now(clock) + 600 }
      await store.putSession('c'.repeat(64), other)
      await store.deleteSession('c'.repeat(64))
      expect(await store.getSession('c'.repeat(64))).toBeNull()
      await store.deleteSession('never-stored')
    })
  })
}
