import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuthorizationStore } from '../../src/authorization/store/store.js'
import type { AuthorizationCode, AuthorizationRequest } from '../../src/authorization/types.js'
import type { manualClock } from '../../src/clock.js'

export interface AuthorizationStoreHarness {
  store: AuthorizationStore
  clock: ReturnType<typeof manualClock>
  cleanup(): Promise<void>
}

/** The AuthorizationStore contract: every implementation must pass it unchanged. */
export function describeAuthorizationStoreContract(name: string, make: () => Promise<AuthorizationStoreHarness>): void {
  describe(`AuthorizationStore contract: ${name}`, () => {
    let h: AuthorizationStoreHarness
    let store: AuthorizationStore
    beforeAll(async () => {
      h = await make()
      store = h.store
    })
    afterAll(() => h.cleanup())
    const now = (): number => Math.floor(h.clock() / 1000)

    const request = (over: Partial<AuthorizationRequest> = {}): AuthorizationRequest => ({
      id: randomUUID(),
      clientId: 'desktop-app',
      redirectUri: 'http://127.0.0.1/callback',
      state: 's',
      codeChallenge: 'c'.repeat(43),
      grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'] }],
      resources: [],
      ttlSeconds: 600,
      requirements: [],
      createdAt: now(),
      expiresAt: now() + 300,
      ...over,
    })
    const code = (over: Partial<AuthorizationCode> = {}): AuthorizationCode => ({
      requestId: randomUUID(),
      clientId: 'desktop-app',
      redirectUri: 'http://127.0.0.1/callback',
      codeChallenge: 'c'.repeat(43),
      grants: [{ type: 'repo', actions: ['read'] }],
      resources: ['https://git.example.com/acme/app'],
      ttlSeconds: 600,
      requirements: [],
      consent: { sub: 'alice@example.com', aaguid: 'a', credentialId: 'k', at: now() },
      issuedAt: now(),
      expiresAt: now() + 60,
      ...over,
    })

    it('keeps a request until it expires, and gives it to one taker only', async () => {
      const r = request()
      await store.putRequest(r)
      expect(await store.getRequest(r.id)).toEqual(r)
      const takers = await Promise.all([store.takeRequest(r.id), store.takeRequest(r.id), store.takeRequest(r.id)])
      expect(takers.filter((t) => t !== null)).toEqual([r])
      expect(await store.getRequest(r.id)).toBeNull()

      const old = request()
      await store.putRequest(old)
      h.clock.advance(301_000)
      expect(await store.getRequest(old.id)).toBeNull()
      expect(await store.takeRequest(old.id)).toBeNull()
    })

    it('gives a challenge once, only for the request it was issued to, and not after it expires', async () => {
      const id = randomUUID()
      const challenge = { challenge: randomUUID(), nonce: 'n', exp: now() + 60 }
      await store.putChallenge(id, challenge)
      expect(await store.takeChallenge(randomUUID(), challenge.challenge)).toBeNull()
      const takers = await Promise.all([store.takeChallenge(id, challenge.challenge), store.takeChallenge(id, challenge.challenge)])
      expect(takers.filter((t) => t !== null)).toEqual([challenge])

      const late = { challenge: randomUUID(), nonce: 'n', exp: now() + 10 }
      await store.putChallenge(id, late)
      h.clock.advance(11_000)
      expect(await store.takeChallenge(id, late.challenge)).toBeNull()
    })

    it('keeps a code record for its retention, also after the code expired', async () => {
      const hash = randomUUID()
      const c = code()
      await store.putCode(hash, c, 120)
      h.clock.advance(61_000)
      expect(await store.getCode(hash)).toEqual(c)
      expect(await store.getCode(randomUUID())).toBeNull()
      await expect(store.putCode(hash, c, 0)).rejects.toThrow(RangeError)
    })

    it('a replay and a redemption see each other, whichever comes first', async () => {
      const first = randomUUID()
      expect(await store.markReplayed(first, 120)).toEqual({})
      expect(await store.linkGrant(first, 'g-1', 120)).toEqual({ replayed: true })

      const second = randomUUID()
      expect(await store.linkGrant(second, 'g-2', 120)).toEqual({ replayed: false })
      expect(await store.markReplayed(second, 120)).toEqual({ grantId: 'g-2' })
    })
  })
}
