import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createVerifier, type Verifier, VerifierError } from '../../src/verifier/index.js'
import { fuzz, hostileJson, hostileText } from './fuzz-runs.js'

const ISSUER = 'https://writ.test'
const AUDIENCE = 'https://git.example.com/acme/app'
const JWKS_URI = `${ISSUER}/.well-known/jwks.json`
const ATTACKER = 'https://attacker.example/keys.json'
const clock = manualClock(Date.UTC(2026, 0, 1))

const real = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const KID = 'k1'
const fetched: string[] = []
let verifier: Verifier

beforeAll(() => {
  const jwk = { ...real.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' }
  const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256' }
  verifier = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: JWKS_URI,
    liveness: { mode: 'none' },
    clock,
    // Every URL the verifier fetches is recorded; the attacker's key set is served if asked for.
    fetch: async (input) => {
      const url = String(input instanceof Request ? input.url : input)
      fetched.push(url)
      const body = url === JWKS_URI ? { keys: [jwk] } : { keys: [attackerJwk] }
      return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })
    },
  })
})

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : (JSON.stringify(value) ?? '')).toString('base64url')

/** A compact JWS over `header` and `payload`, ES256 by `key` (header taken as given: crit and all). */
function signRaw(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

const claims = () => {
  const now = Math.floor(clock() / 1000)
  return { iss: ISSUER, sub: 'agent-a', aud: AUDIENCE, exp: now + 600, iat: now, jti: randomUUID(), client_id: 'agent-a', scope: 'repo:read' }
}

/** Header members writ's verifier must never honour: keys or key URLs carried by the token itself. */
const forbiddenHeaders = fc.dictionary(
  fc.constantFrom('crit', 'jku', 'x5u', 'jwk', 'x5c'),
  fc.oneof(
    fc.constant(ATTACKER),
    fc.constant(['exp']),
    fc.constant(['b64']),
    fc.constant(attacker.publicKey.export({ format: 'jwk' })),
    hostileJson(),
  ),
  { minKeys: 1, maxKeys: 3 },
)

const malformedTokens: fc.Arbitrary<string> = fc.oneof(
  // Text of any kind and length, including longer than any token.
  hostileText(300),
  fc.string({ minLength: 16_000, maxLength: 20_000 }),
  // Wrong segment counts and bad base64.
  fc.array(fc.oneof(fc.base64String({ maxLength: 80 }), hostileText(40)), { maxLength: 7 }).map((parts) => parts.join('.')),
  // Any header and payload, with a signature that means nothing.
  fc.tuple(hostileJson(), hostileJson(), fc.base64String({ maxLength: 90 })).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${s}`),
  // Huge headers (well signed, but past the verifier's size limit).
  fc.string({ minLength: 12_500, maxLength: 20_000 }).map((pad) => signRaw({ alg: 'ES256', typ: 'at+jwt', kid: KID, pad }, claims(), real.privateKey)),
  // Alg confusion: none, HMAC with the public key as secret, unknown algorithms.
  fc.constantFrom('none', 'HS256', 'RS256', 'ES384', 'None', '').map((alg) => `${b64({ alg, typ: 'at+jwt', kid: KID })}.${b64(claims())}.`),
  // Signed by the real key, but carrying a forbidden header (crit, jku, x5u, jwk, x5c).
  forbiddenHeaders.map((extra) => signRaw({ alg: 'ES256', typ: 'at+jwt', kid: KID, ...extra }, claims(), real.privateKey)),
  // Signed by the attacker, pointing at the attacker's keys.
  forbiddenHeaders.map((extra) => signRaw({ alg: 'ES256', typ: 'at+jwt', kid: KID, ...extra }, claims(), attacker.privateKey)),
  // A valid token with a wrong typ, or a payload that is not a claims object.
  fc.constantFrom('JWT', 'jwt', 'application/at+jwt+x', '').map((typ) => signRaw({ alg: 'ES256', typ, kid: KID }, claims(), real.privateKey)),
  hostileJson().map((payload) => signRaw({ alg: 'ES256', typ: 'at+jwt', kid: KID }, payload, real.privateKey)),
)

describe('fuzz: the verifier on malformed tokens', () => {
  it('accepts a well-formed token (so the refusals below are not an accident)', async () => {
    const token = signRaw({ alg: 'ES256', typ: 'at+jwt', kid: KID }, claims(), real.privateKey)
    expect((await verifier.verify(token)).sub).toBe('agent-a')
  })

  it('refuses every malformed token with a VerifierError and never fetches a URL a token names', async () => {
    await fuzz('verifier (malformed tokens)', 400, malformedTokens, async (token) => {
      const outcome = await verifier.verify(token).then(
        (claims) => ({ accepted: claims }),
        (err: unknown) => ({ err }),
      )
      if ('accepted' in outcome) throw new Error(`accepted ${token.slice(0, 300)}`)
      expect(outcome.err).toBeInstanceOf(VerifierError)
      expect(fetched.every((url) => url === JWKS_URI)).toBe(true)
    })
  })

  it('refuses the same garbage in an Authorization header, with a 4xx challenge', async () => {
    const schemes = fc.constantFrom('Bearer', 'DPoP', 'bearer', 'Basic', '')
    await fuzz('verifier (Authorization headers)', 200, fc.tuple(schemes, malformedTokens), async ([scheme, token]) => {
      const value = `${scheme} ${token}`.replace(/[^\x20-\x7e]/g, '')
      const request = new Request(`${AUDIENCE}/x`, { headers: { authorization: value } })
      const err = await verifier.verifyRequest(request).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(VerifierError)
      const res = verifier.errorResponse(err as VerifierError)
      expect([400, 401, 403]).toContain(res.status)
    })
  })
})
