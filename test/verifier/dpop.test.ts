import { randomBytes, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT, type CryptoKey } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createVerifier, type Verifier, VerifierError, type VerifierOptions } from '../../src/verifier/index.js'
import { dpopKey, dpopProof, rsaDpopKey, type DpopKey, type ProofOptions } from '../helpers/dpop.js'

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

/** An access token of `clientId`, bound to `jkt` unless it is null. */
function token(jkt: string | null = agent.jkt, clientId = 'agent-a'): Promise<string> {
  return new SignJWT({
    client_id: clientId,
    jti: randomUUID(),
    ...(jkt === null ? {} : { cnf: { jkt } }),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject(clientId)
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

describe('the DPoP replay cache and proof keys cannot be used against other clients', () => {
  /** A proof whose signature is garbage: verifying it would fail, so any other error came first. */
  const unsigned = (p: string) => `${p.slice(0, p.lastIndexOf('.'))}.${Buffer.alloc(64, 7).toString('base64url')}`

  it('one key holder filling the replay cache is refused alone; other holders still verify', async () => {
    const v = make({ dpop: { replayCacheSize: 30, replayCacheSizePerKey: 10 } })
    const flooder = await dpopKey()
    const t = await token(flooder.jkt)
    // The attack: as many fresh proofs as the whole cache holds, from one key and one token.
    const outcomes: string[] = []
    for (let i = 0; i < 30; i++) {
      outcomes.push(await v.verifyRequest(request(t, [await proof(t, {}, flooder)])).then(
        () => 'ok',
        (err: VerifierError) => err.message,
      ))
    }
    expect(outcomes.slice(0, 10)).toEqual(Array(10).fill('ok'))
    expect(new Set(outcomes.slice(10))).toEqual(new Set(['too many recent DPoP proofs made with this key to rule out a replay; retry shortly']))
    // Every other client's holder keeps working, and replays are still caught for them.
    for (let i = 0; i < 3; i++) {
      const other = await dpopKey()
      const mine = await token(other.jkt, `agent-${i + 2}`)
      const p = await proof(mine, {}, other)
      await expect(v.verifyRequest(request(mine, [p]))).resolves.toMatchObject({ cnf: { jkt: other.jkt } })
      await refused(v.verifyRequest(request(mine, [p])), 'invalid_dpop_proof', /already used/)
    }
    // The flooder gets its budget back once its own proofs age out.
    clock.advance(72_000)
    await expect(v.verifyRequest(request(t, [await proof(t, {}, flooder)]))).resolves.toBeTruthy()
  })

  it('refuses a proof by another key than cnf.jkt before checking its signature', async () => {
    const t = await token()
    const thief = await dpopKey()
    // The signature is garbage: a verifier that checked it first would say so instead.
    const err = await refused(verifier.verifyRequest(request(t, [unsigned(await proof(t, {}, thief))])), 'invalid_dpop_proof')
    expect(err.message).toBe('the DPoP proof was signed with a key the token is not bound to')
    // The bound key's own proof with a garbage signature does reach the signature check.
    await refused(verifier.verifyRequest(request(t, [unsigned(await proof(t))])), 'invalid_dpop_proof', /signature verification failed/)
  })

  it('refuses RSA proof keys with an exponent other than 65537, before any signature check', async () => {
    const e3 = await rsaDpopKey(3)
    const t = await token(e3.jkt)
    // Correctly signed and bound: only the exponent is wrong.
    await refused(verifier.verifyRequest(request(t, [await proof(t, {}, e3)])), 'invalid_dpop_proof', /exponent 65537/)
    // A huge exponent (costly to verify with) is refused before its (garbage) signature is checked.
    const huge = { ...e3.publicJwk, e: Buffer.alloc(256, 0xff).toString('base64url') }
    const hugeKey = { ...e3, publicJwk: huge, jkt: await calculateJwkThumbprint(huge, 'sha256') }
    const th = await token(hugeKey.jkt)
    const err = await refused(verifier.verifyRequest(request(th, [unsigned(await proof(th, {}, hugeKey))])), 'invalid_dpop_proof')
    expect(err.message).toBe('the DPoP proof jwk must be an RSA key with public exponent 65537 (e "AQAB")')
  })

  it('refuses RSA proof keys outside 2048 to 4096 bits, and accepts a usual RSA key', async () => {
    const usual = await rsaDpopKey(65537)
    const t = await token(usual.jkt)
    await expect(verifier.verifyRequest(request(t, [await proof(t, {}, usual)]))).resolves.toBeTruthy()
    for (const bits of [1024, 4104, 8192]) {
      const n = Buffer.alloc(bits / 8, 0xc5)
      const jwk = { kty: 'RSA', e: 'AQAB', n: n.toString('base64url') }
      const key = { ...usual, publicJwk: jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') }
      const tb = await token(key.jkt)
      await refused(verifier.verifyRequest(request(tb, [unsigned(await proof(tb, {}, key))])), 'invalid_dpop_proof', /2048 to 4096 bit modulus \(n\)/)
    }
  })
})
