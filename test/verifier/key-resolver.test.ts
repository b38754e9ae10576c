import { generateKeyPair, exportJWK, type JWK } from 'jose'
import { beforeEach, describe, expect, it } from 'vitest'
import { createKeyResolver, type KeyResolver } from '../../src/verifier/key-resolver.js'

const JWKS_URI = 'https://writ.test/.well-known/jwks.json'

async function publicJwk(kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true })
  return { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }
}

describe('createKeyResolver: key-set announcements', () => {
  let now: number
  let published: JWK[]
  let fetches: number
  let resolver: KeyResolver
  const header = (kid: string) => ({ alg: 'ES256', kid })

  beforeEach(async () => {
    now = Date.UTC(2026, 0, 1)
    published = [await publicJwk('old'), await publicJwk('other')]
    fetches = 0
    resolver = createKeyResolver({
      jwksUri: JWKS_URI,
      algorithms: ['ES256'],
      fetch: async () => {
        fetches++
        return new Response(JSON.stringify({ keys: published }), { status: 200 })
      },
      clock: () => now,
      cooldownSeconds: 30,
      maxAgeSeconds: 600,
      timeoutMs: 1000,
    })
    await resolver.resolve(header('old'))
  })

  it('refuses a withdrawn kid at once and changes its version (remembered tokens re-verify)', async () => {
    const version = resolver.version
    resolver.keepOnly(['other'])
    expect(resolver.version).toBe(version + 1)
    await expect(resolver.resolve(header('old'))).rejects.toThrow(/unknown key/)
    await expect(resolver.resolve(header('other'))).resolves.toBeDefined()
  })

  it('does not believe a JWKS still listing the withdrawn kid until its max age has passed', async () => {
    resolver.keepOnly(['other'])
    now += 60_000
    resolver.refreshSoon()
    await expect(resolver.resolve(header('old'))).rejects.toThrow(/unknown key/)
    now += 600_000
    // Past the hold, a JWKS that lists the kid is trusted again (only the JWKS ever adds a key).
    resolver.refreshSoon()
    await new Promise((r) => setTimeout(r, 0))
    await expect(resolver.resolve(header('old'))).resolves.toBeDefined()
  })

  it('fetches announced kids it does not know within a second, not after the cooldown', async () => {
    published = [await publicJwk('fresh')]
    now += 1000
    resolver.keepOnly(['fresh'])
    await new Promise((r) => setTimeout(r, 0))
    expect(fetches).toBe(2)
    await expect(resolver.resolve(header('fresh'))).resolves.toBeDefined()
    await expect(resolver.resolve(header('old'))).rejects.toThrow(/unknown key/)
  })

  it('never adds a key from an announcement: an announced kid the JWKS lacks stays unknown', async () => {
    now += 1000
    resolver.keepOnly(['old', 'made-up'])
    await expect(resolver.resolve(header('made-up'))).rejects.toThrow(/unknown key/)
    await expect(resolver.resolve(header('old'))).resolves.toBeDefined()
  })
})
