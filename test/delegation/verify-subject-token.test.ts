import { describe, expect, it } from 'vitest'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { createSubjectTokenVerifier } from '../../src/delegation/verify-subject-token.js'
import { WritError } from '../../src/errors.js'
import { loadPolicy } from '../../src/policy/load-policy.js'

const ISS = 'https://idp.example.com'
const policy = loadPolicy(`
version: 1
issuers:
  - { issuer: "${ISS}", jwks_uri: "${ISS}/jwks", audience: writ, algorithms: [ES256] }
`)

async function key(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }
}
type Key = Awaited<ReturnType<typeof key>>

const sign = (k: Key) =>
  new SignJWT({ email: 'alice@example.com' })
    .setProtectedHeader({ alg: 'ES256', kid: k.kid })
    .setIssuer(ISS)
    .setSubject('alice')
    .setAudience('writ')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(k.privateKey)

/** A JWKS endpoint whose keys the test changes, counting fetches. */
function jwksEndpoint(keys: Key[]) {
  const served = { keys, fetches: 0 }
  const fetch = (async () => {
    served.fetches++
    return new Response(JSON.stringify({ keys: served.keys.map((k) => k.jwk) }), { headers: { 'content-type': 'application/json' } })
  }) as unknown as typeof globalThis.fetch
  return { served, fetch }
}

describe('subject token keys (jose createRemoteJWKSet)', () => {
  it('picks up a key the provider rotated in: an unknown kid fetches the JWKS again', async () => {
    const [first, second] = [await key('k1'), await key('k2')]
    const { served, fetch } = jwksEndpoint([first])
    const verify = createSubjectTokenVerifier(policy, { fetch, cooldownMs: 0 })
    expect((await verify(await sign(first))).id).toBe('alice')
    expect(served.fetches).toBe(1)
    served.keys = [first, second]
    expect((await verify(await sign(second))).id).toBe('alice')
    expect(served.fetches).toBe(2)
    // A known kid is served from the cache.
    await verify(await sign(first))
    expect(served.fetches).toBe(2)
  })

  it('does not fetch again for unknown kids within the cooldown (forged kids cannot hammer the provider)', async () => {
    const [real, forged] = [await key('k1'), await key('forged')]
    const { served, fetch } = jwksEndpoint([real])
    const verify = createSubjectTokenVerifier(policy, { fetch, cooldownMs: 60_000 })
    await verify(await sign(real))
    for (let i = 0; i < 3; i++) {
      await expect(verify(await sign(forged))).rejects.toThrow(/no key of .* JWKS matches/)
    }
    expect(served.fetches).toBe(1)
  })

  it('answers 503 when the keys cannot be fetched, not a 4xx blaming the caller', async () => {
    const fetch = (async () => new Response('down', { status: 502 })) as unknown as typeof globalThis.fetch
    const verify = createSubjectTokenVerifier(policy, { fetch })
    const err = await verify(await sign(await key('k1'))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritError)
    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 })
  })
})
