/**
 * Review finding: the verifier's DPoP replay cache is budgeted per proof key (1000 by default)
 * under a global cap (100,000 by default), and a full cache refuses every newcomer. One client
 * holding N DPoP-bound tokens with N keys fills it with N × 1000 proofs; the policy's default
 * `max_live_grants` is 100, and 100 × 1000 = 100,000: one agent with the default quota still locks
 * every other client out of a verifier for the replay window (~71 s), repeatably — the issue 27
 * point 6 attack with 100 keys instead of one. Scaled down here (cache 30, 10 per key, so 3 keys);
 * the arithmetic is the same at the defaults. Fix: budget per client (the token's client_id) as
 * well as per key, or on a full cache evict from the largest holder instead of refusing others.
 */
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, type CryptoKey, type JWK, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createVerifier, type VerifierError } from '../../src/verifier/index.js'
import { dpopKey, dpopProof, type DpopKey } from '../helpers/dpop.js'

const ISSUER = 'https://writ.test'
const AUDIENCE = 'https://api.example.com'
const URL_ = 'https://api.example.com/docs/a.md'
const clock = manualClock(Date.UTC(2026, 0, 1))
const now = () => Math.floor(clock() / 1000)
let signingKey: CryptoKey
let publicJwk: JWK

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
})

const token = (clientId: string, jkt: string) =>
  new SignJWT({ client_id: clientId, jti: randomUUID(), cnf: { jkt } })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject(clientId)
    .setAudience(AUDIENCE)
    .setIssuedAt(now())
    .setExpirationTime(now() + 600)
    .sign(signingKey)

const request = (accessToken: string, proof: string) =>
  new Request(URL_, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } })

describe('one client with several DPoP keys cannot lock others out of a verifier', () => {
  it("another client's proof still verifies after one client fills its keys' budgets", async () => {
    const v = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: { keys: [publicJwk] },
      liveness: { mode: 'none' },
      clock,
      dpop: { replayCacheSize: 30, replayCacheSizePerKey: 10 },
    })
    // agent-a: three live tokens (well within max_live_grants), each bound to its own key.
    const keys: DpopKey[] = [await dpopKey(), await dpopKey(), await dpopKey()]
    for (const key of keys) {
      const t = await token('agent-a', key.jkt)
      for (let i = 0; i < 10; i++) {
        await v.verifyRequest(request(t, await dpopProof(key, { htm: 'GET', htu: URL_, accessToken: t, clock })))
      }
    }
    // agent-b, who did nothing, presents one fresh proof.
    const victim = await dpopKey()
    const t = await token('agent-b', victim.jkt)
    const outcome = await v
      .verifyRequest(request(t, await dpopProof(victim, { htm: 'GET', htu: URL_, accessToken: t, clock })))
      .then(() => 'ok', (err: VerifierError) => err.message)
    expect(outcome).toBe('ok')
  })
})
