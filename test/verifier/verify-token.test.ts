import { createHmac, KeyObject, randomUUID, sign } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT, type CryptoKey } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createVerifier, type Verifier, VerifierError, type VerifierOptions } from '../../src/verifier/index.js'

const ISSUER = 'https://writ.test'
const AUDIENCE = 'https://git.example.com/acme/app'
const clock = manualClock(Date.UTC(2026, 0, 1))
const now = () => Math.floor(clock() / 1000)

let signingKey: CryptoKey
let publicJwk: JWK
let publicPem: string
let verifier: Verifier

function make(options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: { keys: [publicJwk] },
    liveness: { mode: 'none' },
    clock,
    ...options,
  })
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
  publicPem = await exportSPKI(pair.publicKey)
  verifier = make()
})

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'agent-a',
    aud: AUDIENCE,
    exp: now() + 600,
    iat: now(),
    jti: randomUUID(),
    client_id: 'agent-a',
    scope: 'repo:read',
    authorization_details: [{ type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier: 'docs/**' }],
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name]
    else base[name] = value
  }
  return base
}

async function mint(
  overrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: CryptoKey = signingKey,
): Promise<string> {
  return new SignJWT(claims(overrides))
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header } as never)
    .sign(key)
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Signs any header as-is (jose refuses to sign some of the headers these tests need). */
function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(payload)}`
  const signature = sign('sha256', Buffer.from(input), { key: KeyObject.from(signingKey), dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

async function rejects(token: string, code: string, message?: RegExp, v: Verifier = verifier): Promise<VerifierError> {
  const err = await v.verify(token).then(
    () => {
      throw new Error('the token was accepted')
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(VerifierError)
  expect((err as VerifierError).code).toBe(code)
  if (message) expect((err as VerifierError).message).toMatch(message)
  return err as VerifierError
}

describe('createVerifier: RFC 9068 / RFC 8725 checks', () => {
  it('accepts a well-formed access token and returns its claims, frozen', async () => {
    const token = await mint()
    const got = await verifier.verify(token)
    expect(got).toMatchObject({ iss: ISSUER, sub: 'agent-a', client_id: 'agent-a' })
    expect(Object.isFrozen(got)).toBe(true)
    expect(Object.isFrozen(got.authorization_details![0])).toBe(true)
  })

  it('accepts typ application/at+jwt as well', async () => {
    await expect(verifier.verify(await mint({}, { typ: 'application/at+jwt' }))).resolves.toBeTruthy()
  })

  it('rejects alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${b64(claims())}.`
    await rejects(token, 'invalid_token', /algorithm is not allowed/)
  })

  it('rejects HS256 signed with the public key as the secret (algorithm confusion)', async () => {
    for (const secret of [publicPem, JSON.stringify(publicJwk)]) {
      const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })}.${b64(claims())}`
      const mac = createHmac('sha256', secret).update(input).digest('base64url')
      await rejects(`${input}.${mac}`, 'invalid_token', /algorithm is not allowed/)
    }
  })

  it('rejects an algorithm the options do not allow even if the key could verify it', async () => {
    const strict = make({ algorithms: ['EdDSA'] })
    await rejects(await mint(), 'invalid_token', /algorithm is not allowed/, strict)
  })

  it('rejects a token signed by another key under a known kid', async () => {
    const other = await generateKeyPair('ES256')
    await rejects(await mint({}, {}, other.privateKey), 'invalid_token', /signature/)
  })

  it.each([
    ['JWT', { typ: 'JWT' }],
    ['dpop+jwt', { typ: 'dpop+jwt' }],
    ['no typ', { typ: undefined }],
  ])('rejects typ %s', async (_name, header) => {
    await rejects(await mint({}, header), 'invalid_token', /typ/)
  })

  it('rejects a token for another audience, and accepts one naming this service among others', async () => {
    await rejects(await mint({ aud: 'https://other.example.com' }), 'audience_mismatch')
    await expect(verifier.verify(await mint({ aud: ['https://other.example.com', AUDIENCE] }))).resolves.toBeTruthy()
  })

  it('rejects a token from another issuer', async () => {
    await rejects(await mint({ iss: 'https://evil.example' }), 'issuer_mismatch')
  })

  it('rejects an expired token, with a few seconds of tolerance', async () => {
    await rejects(await mint({ exp: now() - 6 }), 'token_expired')
    await expect(verifier.verify(await mint({ exp: now() - 4 }))).resolves.toBeTruthy()
  })

  it('rejects a token whose nbf is in the future, and one issued in the future', async () => {
    await rejects(await mint({ nbf: now() + 60 }), 'invalid_token', /nbf/)
    await rejects(await mint({ iat: now() + 60 }), 'invalid_token', /iat/)
    await expect(verifier.verify(await mint({ nbf: now() + 3 }))).resolves.toBeTruthy()
  })

  it.each(['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'])('rejects a token without %s', async (claim) => {
    const err = await rejects(await mint({ [claim]: undefined }), 'invalid_token')
    expect(err.message).toContain(claim)
  })

  it('rejects claims of the wrong type', async () => {
    await rejects(await mint({ client_id: 42 }), 'invalid_token', /client_id/)
    await rejects(await mint({ jti: '' }), 'invalid_token', /jti/)
    await rejects(await mint({ authorization_details: 'all' }), 'invalid_token', /authorization_details/)
    await rejects(await mint({ cnf: { 'x5t#S256': 'abc' } }), 'invalid_token', /cnf/)
  })

  it.each([
    ['jku', { jku: 'https://evil.example/jwks.json' }],
    ['x5u', { x5u: 'https://evil.example/cert.pem' }],
    ['jwk', { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }],
  ])('never honours a %s header', async (_name, header) => {
    await rejects(await mint({}, header), 'invalid_token', /header/)
  })

  it('rejects a crit header, even naming an extension jose knows (b64)', async () => {
    for (const extra of [{ crit: ['writ-x'], 'writ-x': 1 }, { crit: ['b64'], b64: true }]) {
      await rejects(signRaw({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...extra }, claims()), 'invalid_token')
    }
  })

  it('accepts a token signed the way the broker signs (node:crypto, raw header)', async () => {
    await expect(verifier.verify(signRaw({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }, claims()))).resolves.toBeTruthy()
  })

  it('rejects a token without a kid, and one with a kid the key set does not have', async () => {
    await rejects(await mint({}, { kid: undefined }), 'invalid_token', /kid/)
    await rejects(await mint({}, { kid: 'k2' }), 'invalid_token', /unknown key/)
  })

  it('rejects garbage and oversized tokens without echoing them', async () => {
    const err = await rejects('not.a.jwt-secret', 'invalid_token')
    expect(err.message).not.toContain('secret')
    await rejects('a'.repeat(20_000), 'invalid_token', /too long/)
  })

  it('re-checks expiry for a token it has verified before', async () => {
    const local = make({ clock: manualClock(clock()) })
    const token = await mint({ exp: now() + 60 })
    await expect(local.verify(token)).resolves.toBeTruthy()
    await expect(local.verify(token)).resolves.toBeTruthy()
    const later = make({ clock: () => clock() + 120_000 })
    await rejects(token, 'token_expired', undefined, later)
  })

  it('re-checks expiry on a cached token with the same verifier', async () => {
    const moving = manualClock(clock())
    const local = make({ clock: moving })
    const token = await mint({ exp: now() + 60 })
    await local.verify(token)
    moving.advance(120_000)
    await rejects(token, 'token_expired', undefined, local)
  })

  it('refuses dangerous or missing options', () => {
    const base = { issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [publicJwk] }, liveness: { mode: 'none' as const } }
    const { audience: _a, ...noAudience } = base
    expect(() => createVerifier(noAudience as VerifierOptions)).toThrow(/audience: required/)
    expect(() => createVerifier({ ...base, audience: '' })).toThrow(/audience/)
    expect(() => createVerifier({ ...base, algorithms: ['HS256'] })).toThrow(/algorithms/)
    expect(() => createVerifier({ ...base, algorithms: ['none'] })).toThrow(/algorithms/)
    expect(() => createVerifier({ ...base, jwksUri: 'https://x/jwks' })).toThrow(/exactly one/)
    const { liveness: _l, ...noLiveness } = base
    expect(() => createVerifier(noLiveness as VerifierOptions)).toThrow(/liveness/)
  })
})
