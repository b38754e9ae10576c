import { randomUUID } from 'node:crypto'
import { generateKeyPair, SignJWT } from 'jose'
import { beforeEach, describe, expect, it } from 'vitest'
import { epochSeconds, manualClock } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import { createKeyManager, type KeyManager, mintAccessToken } from '../../src/tokens/index.js'
import { createVerifier, type Verifier } from '../../src/verifier/index.js'

const ISSUER = 'https://writ.test'
const AUDIENCE = 'https://git.example.com/acme/app'
const JWKS_URI = `${ISSUER}/.well-known/jwks.json`

let clock: ReturnType<typeof manualClock>
let keys: KeyManager
let fetched: string[]
let jwksAvailable: boolean
let verifier: Verifier

/** The broker's real key manager and minting; the JWKS is served from it as the broker does. */
beforeEach(async () => {
  clock = manualClock(Date.UTC(2026, 0, 1))
  keys = createKeyManager({ alg: 'ES256', source: 'generate', rotationSeconds: 7 * 86400, maxTokenTtlSeconds: 3600, clock })
  await keys.init()
  fetched = []
  jwksAvailable = true
  verifier = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: JWKS_URI,
    fetch: async (input) => {
      fetched.push(String(input))
      return jwksAvailable ? Response.json(keys.jwks()) : new Response('down', { status: 503 })
    },
    clock,
    liveness: { mode: 'none' },
  })
})

async function issue(): Promise<string> {
  const now = epochSeconds(clock)
  const grant: Grant = {
    id: randomUUID(),
    clientId: 'agent-a',
    task: { id: 'T-1' },
    manifestSha256: '00'.repeat(32),
    authorizationDetails: [{ type: 'repo', actions: ['read'], locations: [AUDIENCE] }],
    ruleIds: ['docs-read'],
    issuedAt: now,
    expiresAt: now + 600,
  }
  return mintAccessToken({ key: keys.signingKey(), issuer: ISSUER, audience: AUDIENCE, grant, scope: 'repo:read' })
}

describe('key rotation without a restart', () => {
  it('fetches the JWKS once, then verifies from memory', async () => {
    await verifier.verify(await issue())
    await verifier.verify(await issue())
    expect(fetched).toEqual([JWKS_URI])
  })

  it('accepts tokens of the next key without refetching: it was published before it signed', async () => {
    await verifier.verify(await issue())
    await keys.rotate()
    await expect(verifier.verify(await issue())).resolves.toBeTruthy()
    expect(fetched).toHaveLength(1)
  })

  it('rejects an unknown kid within the cooldown, and accepts it after refetching', async () => {
    const before = await issue()
    await verifier.verify(before)
    // Two rotations: the signing key is now one the verifier has never seen.
    await keys.rotate()
    await keys.rotate({ force: true })
    const unseen = await issue()
    // Within the 30 s cooldown the set is not fetched again: the kid is unknown.
    await expect(verifier.verify(unseen)).rejects.toMatchObject({
      code: 'invalid_token',
      message: expect.stringMatching(/unknown key/),
    })
    expect(fetched).toHaveLength(1)
    clock.advance(31_000)
    await expect(verifier.verify(unseen)).resolves.toBeTruthy()
    expect(fetched).toHaveLength(2)
    // The forced rotation unpublished the first key: the token it signed (verified and remembered
    // before) is refused now that the verifier has seen the new set.
    await expect(verifier.verify(before)).rejects.toMatchObject({ code: 'invalid_token' })
  })

  it('does not let made-up kids turn into fetches', async () => {
    await verifier.verify(await issue())
    const stranger = await generateKeyPair('ES256')
    for (let i = 0; i < 20; i++) {
      const forged = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'x', client_id: 'x', jti: `${i}` })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `made-up-${i}` })
        .setIssuedAt(epochSeconds(clock))
        .setExpirationTime(epochSeconds(clock) + 60)
        .sign(stranger.privateKey)
      await expect(verifier.verify(forged)).rejects.toMatchObject({ code: 'invalid_token' })
    }
    expect(fetched).toHaveLength(1)
  })

  it('drops remembered tokens when the key set changes, so a removed key stops verifying', async () => {
    const old = await issue()
    await verifier.verify(old)
    await verifier.verify(old)
    // Forced rotations retire the old key at once (as for a compromised key): it leaves the JWKS.
    await keys.rotate({ force: true })
    await keys.rotate({ force: true })
    await keys.rotate({ force: true })
    clock.advance(31_000)
    await verifier.verify(await issue())
    expect(fetched).toHaveLength(2)
    await expect(verifier.verify(old)).rejects.toMatchObject({
      code: 'invalid_token',
      message: expect.stringMatching(/unknown key/),
    })
  })

  it('refetches a stale key set in the background, even while only remembered tokens arrive', async () => {
    const fresh = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri: JWKS_URI,
      fetch: async (input) => {
        fetched.push(String(input))
        return Response.json(keys.jwks())
      },
      clock,
      liveness: { mode: 'none' },
      jwksMaxAgeSeconds: 60,
    })
    const old = await issue()
    await fresh.verify(old)
    await keys.rotate({ force: true })
    await keys.rotate({ force: true })
    await keys.rotate({ force: true })
    clock.advance(61_000)
    // Remembered: answered from memory, and the stale set is refetched behind it.
    await expect(fresh.verify(old)).resolves.toBeTruthy()
    await new Promise((resolve) => setImmediate(resolve))
    expect(fetched).toHaveLength(2)
    await expect(fresh.verify(old)).rejects.toMatchObject({ code: 'invalid_token', message: expect.stringMatching(/unknown key/) })
  })

  it('fails closed while the JWKS cannot be fetched at all', async () => {
    jwksAvailable = false
    await expect(verifier.verify(await issue())).rejects.toMatchObject({
      code: 'invalid_token',
      message: expect.stringMatching(/could not be fetched/),
    })
    jwksAvailable = true
    clock.advance(1_000)
    await expect(verifier.verify(await issue())).resolves.toBeTruthy()
  })
})
