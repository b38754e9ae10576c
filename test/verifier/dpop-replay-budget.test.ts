/**
 * The verifier's DPoP replay cache is budgeted per proof key and per client: a client that binds
 * tokens to many keys (its live-grant quota allows ~100) and floods the cache has its own proofs
 * refused, never another client's. Scaled down here (cache 30, 10 per key, 15 per client).
 */import { randomUUID } from 'node:crypto'
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

describe('one client with many DPoP keys cannot lock others out of a verifier', () => {
  it("another client's proof still verifies after one client fills its keys' budgets", async () => {
    const v = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: { keys: [publicJwk] },
      liveness: { mode: 'none' },
      clock,
      dpop: { replayCacheSize: 30, replayCacheSizePerKey: 10, replayCacheSizePerClient: 15 },
    })
    // agent-a: three live tokens (well within max_live_grants), each bound to its own key.
    const keys: DpopKey[] = [await dpopKey(), await dpopKey(), await dpopKey()]
    const outcomes: string[] = []
    for (const key of keys) {
      const t = await token('agent-a', key.jkt)
      for (let i = 0; i < 10; i++) {
        const proof = await dpopProof(key, { htm: 'GET', htu: URL_, accessToken: t, clock })
        outcomes.push(await v.verifyRequest(request(t, proof)).then(() => 'ok', (err: VerifierError) => err.message))
      }
    }
    // agent-a's own budget ends it: 15 proofs taken, the rest refused as this client's.
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(15)
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(
      new Set(['too many recent DPoP proofs by this client to rule out a replay; retry shortly']),
    )
    // agent-b, who did nothing, presents one fresh proof.
    const victim = await dpopKey()
    const t = await token('agent-b', victim.jkt)
    const outcome = await v
      .verifyRequest(request(t, await dpopProof(victim, { htm: 'GET', htu: URL_, accessToken: t, clock })))
      .then(() => 'ok', (err: VerifierError) => err.message)
    expect(outcome).toBe('ok')
  })
})
