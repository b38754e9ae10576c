import { randomBytes, randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, type JWK, SignJWT, type CryptoKey } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createVerifier, type Verifier, VerifierError, type VerifierOptions } from '../../src/verifier/index.js'
import { dpopKey, dpopProof, type DpopKey, type ProofOptions } from '../helpers/dpop.js'

const ISSUER = 'https://writ.test'
const AUDIENCE = 'https://api.example.com'
const URL_ = 'https://api.example.com/docs/a.md'
const clock = manualClock(Date.UTC(2026, 0, 1))
const now = () => Math.floor(clock() / 1000)

let signingKey: CryptoKey
let publicJwk: JWK
let agent: DpopKey
let verifier: Verifier

const make = (options: Partial<VerifierOptions> = {}): Verifier =>
  createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [publicJwk] }, liveness: { mode: 'none' }, clock, ...options })

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
  agent = await dpopKey()
  verifier = make()
})

/** An access token, bound to `jkt` unless it is null. */
function token(jkt: string | null = agent.jkt): Promise<string> {
  return new SignJWT({
    client_id: 'agent-a',
    jti: randomUUID(),
    ...(jkt === null ? {} : { cnf: { jkt } }),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject('agent-a')
    .setAudience(AUDIENCE)
    .setIssuedAt(now())
    .setExpirationTime(now() + 600)
    .sign(signingKey)
}

const proof = (accessToken: string, options: Partial<ProofOptions> = {}, key: DpopKey = agent) =>
  dpopProof(key, { htm: 'GET', htu: URL_, accessToken, clock, ...options })

function request(accessToken: string, proofs: string[], init: { scheme?: string; method?: string; url?: string } = {}): Request {
  const headers = new Headers({ authorization: `${init.scheme ?? 'DPoP'} ${accessToken}` })
  for (const p of proofs) headers.append('dpop', p)
  return new Request(init.url ?? URL_, { method: init.method ?? 'GET', headers })
}

async function refused(promise: Promise<unknown>, code: string, message?: RegExp): Promise<VerifierError> {
  const err = await promise.then(
    () => {
      throw new Error('accepted')
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(VerifierError)
  expect((err as VerifierError).code).toBe(code)
  if (message) expect((err as VerifierError).message).toMatch(message)
  return err as VerifierError
}

describe('DPoP-bound tokens at the resource server (RFC 9449 §7)', () => {
  it('accepts a bound token with a proof for this request, its token and its key', async () => {
    const t = await token()
    const claims = await verifier.verifyRequest(request(t, [await proof(t)]))
    expect(claims.cnf).toEqual({ jkt: agent.jkt })
  })

  it('ignores the query and fragment of the request URL when comparing htu', async () => {
    const t = await token()
    await expect(verifier.verifyRequest(request(t, [await proof(t)], { url: `${URL_}?page=2` }))).resolves.toBeTruthy()
  })

  it('rejects a bound token presented as a bearer token, with a DPoP challenge', async () => {
    const t = await token()
    const err = await refused(verifier.verifyRequest(request(t, [await proof(t)], { scheme: 'Bearer' })), 'invalid_token', /DPoP-bound/)
    expect(verifier.errorResponse(err).headers.get('www-authenticate')).toMatch(
      /^DPoP algs="ES256 EdDSA RS256 PS256", error="invalid_token", error_description="this token is DPoP-bound/,
    )
  })

  it('rejects a bound token without a proof', async () => {
    const t = await token()
    await refused(verifier.verifyRequest(request(t, [])), 'invalid_dpop_proof', /missing/)
  })

  it('rejects a proof made for another method', async () => {
    const t = await token()
    await refused(verifier.verifyRequest(request(t, [await proof(t, { htm: 'POST' })])), 'invalid_dpop_proof', /method/)
  })

  it('rejects a proof made for another URL', async () => {
    const t = await token()
    for (const htu of ['https://api.example.com/docs/b.md', 'https://evil.example/docs/a.md', 'http://api.example.com/docs/a.md']) {
      await refused(verifier.verifyRequest(request(t, [await proof(t, { htu })])), 'invalid_dpop_proof', /URL/)
    }
  })

  it('rejects a proof made for another token, and one without ath', async () => {
    const t = await token()
    const other = await token()
    await refused(verifier.verifyRequest(request(t, [await proof(other)])), 'invalid_dpop_proof', /another access token/)
    await refused(verifier.verifyRequest(request(t, [await proof(t, { claims: { ath: undefined } })])), 'invalid_dpop_proof', /ath/)
  })

  it('rejects a proof signed by another key than the token is bound to', async () => {
    const t = await token()
    const thief = await dpopKey()
    await refused(verifier.verifyRequest(request(t, [await proof(t, {}, thief)])), 'invalid_dpop_proof', /not bound/)
  })

  it('rejects a replayed proof', async () => {
    const t = await token()
    const p = await proof(t)
    await verifier.verifyRequest(request(t, [p]))
    await refused(verifier.verifyRequest(request(t, [p])), 'invalid_dpop_proof', /already used/)
  })

  it('rejects stale and future proofs', async () => {
    const t = await token()
    await refused(verifier.verifyRequest(request(t, [await proof(t, { iat: now() - 120 })])), 'invalid_dpop_proof', /too old/)
    await refused(verifier.verifyRequest(request(t, [await proof(t, { iat: now() + 60 })])), 'invalid_dpop_proof', /future/)
  })

  it('rejects malformed proofs: wrong typ, private jwk, HMAC, jku, two DPoP headers', async () => {
    const t = await token()
    const hmac = await new SignJWT({ jti: 'x', htm: 'GET', htu: URL_, iat: now() })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' })
      .sign(randomBytes(32))
    const bad = [
      [await proof(t, { header: { typ: 'JWT' } })],
      [await proof(t, { header: { jwk: { ...agent.publicJwk, d: 'AAAA' } } })],
      [await proof(t, { header: { jku: 'https://evil.example/jwks' } })],
      [hmac],
      [await proof(t), await proof(t)],
      ['not a jwt'],
    ]
    for (const proofs of bad) await refused(verifier.verifyRequest(request(t, proofs)), 'invalid_dpop_proof')
  })

  it('rejects an unbound token sent with the DPoP scheme', async () => {
    const t = await token(null)
    await refused(verifier.verifyRequest(request(t, [await proof(t)])), 'invalid_token', /not DPoP-bound/)
    await expect(verifier.verifyRequest(request(t, [], { scheme: 'Bearer' }))).resolves.toBeTruthy()
  })

  it('checks the proof against the public URL when the service sits behind a proxy', async () => {
    const t = await token()
    const internal = request(t, [await proof(t)], { url: 'http://10.0.0.5:3000/docs/a.md' })
    await refused(verifier.verifyRequest(internal), 'invalid_dpop_proof', /URL/)
    const again = request(t, [await proof(t)], { url: 'http://10.0.0.5:3000/docs/a.md' })
    await expect(verifier.verifyRequest(again, { url: URL_ })).resolves.toBeTruthy()
  })
})

describe('server nonces at the resource server (RFC 9449 §9)', () => {
  it('asks for a nonce with use_dpop_nonce and a DPoP-Nonce header, then accepts it', async () => {
    const strict = make({ dpop: { nonce: { secret: randomBytes(32) } } })
    const t = await token()
    const err = await refused(strict.verifyRequest(request(t, [await proof(t)])), 'use_dpop_nonce')
    expect(err.dpopNonce).toBeTruthy()
    const response = strict.errorResponse(err)
    expect(response.status).toBe(401)
    expect(response.headers.get('dpop-nonce')).toBe(err.dpopNonce)
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/)
    await expect(strict.verifyRequest(request(t, [await proof(t, { nonce: err.dpopNonce! })]))).resolves.toBeTruthy()
    const foreign = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [publicJwk] }, liveness: { mode: 'none' }, clock, dpop: { nonce: { secret: randomBytes(32) } } })
    await refused(foreign.verifyRequest(request(t, [await proof(t, { nonce: err.dpopNonce! })])), 'use_dpop_nonce')
  })
})
