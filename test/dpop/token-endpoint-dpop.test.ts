import { decodeJwt, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier } from '../../src/verifier/index.js'
import { dpopKey, dpopProof, rsaDpopKey, type DpopKey, type ProofOptions } from '../helpers/dpop.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const DETAILS = JSON.stringify(docsManifest().grants.slice(0, 1))
let broker: TestBroker
let key: DpopKey

beforeAll(async () => {
  broker = await makeTestBroker()
  key = await dpopKey()
})
afterAll(() => broker.close())

const tokenForm = (extra: Record<string, string> = {}) =>
  form({ grant_type: 'client_credentials', task_id: 'T-1', authorization_details: DETAILS, ...extra })

type Route = '/oauth/token' | '/v1/tokens'
const bodyFor = (route: Route) => (route === '/oauth/token' ? tokenForm() : json(docsManifest()))

function call(route: Route, proof: string | string[] | undefined, init: RequestInit = bodyFor(route)) {
  const headers = new Headers(init.headers)
  for (const p of proof === undefined ? [] : Array.isArray(proof) ? proof : [proof]) headers.append('dpop', p)
  return broker.call('POST', route, { ...init, headers, basic: A })
}

const proofFor = (route: Route, options: Partial<ProofOptions> = {}, k: DpopKey = key) =>
  dpopProof(k, { htm: 'POST', htu: `${ISSUER}${route}`, clock: broker.clock, ...options })

/** The nonce the broker hands out to a DPoP request (it answers use_dpop_nonce without one). */
async function currentNonce(route: Route): Promise<string> {
  const res = await call(route, await proofFor(route))
  expect(res.status).toBe(400)
  expect((await res.json()).error).toBe('use_dpop_nonce')
  const nonce = res.headers.get('dpop-nonce')
  expect(nonce).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/)
  return nonce!
}

describe.each(['/oauth/token', '/v1/tokens'] as const)('DPoP at %s (RFC 9449 §5)', (route) => {
  it('binds the token to the proof key: token_type DPoP and cnf.jkt', async () => {
    const nonce = await currentNonce(route)
    const res = await call(route, await proofFor(route, { nonce }))
    expect(res.status).toBe(200)
    expect(res.headers.get('dpop-nonce')).toBeTruthy()
    const body = await res.json()
    expect(body.token_type).toBe('DPoP')
    expect(decodeJwt(body.access_token).cnf).toEqual({ jkt: key.jkt })
    const introspection = await (
      await broker.call('POST', '/oauth/introspect', { ...form({ token: body.access_token }), basic: A })
    ).json()
    expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
  })

  it('asks for a server nonce (use_dpop_nonce + DPoP-Nonce) and issues nothing without one', async () => {
    const res = await call(route, await proofFor(route))
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body).toEqual({ error: 'use_dpop_nonce', error_description: expect.stringContaining('nonce') })
    expect(res.headers.get('dpop-nonce')).toBeTruthy()
  })

  it('refuses a forged nonce and a nonce past its lifetime', async () => {
    const forged = await call(route, await proofFor(route, { nonce: 'lx1q2w3e.AAAAAAAAAAAAAAAAAAAAAA' }))
    expect((await forged.json()).error).toBe('use_dpop_nonce')
    const nonce = await currentNonce(route)
    broker.clock.advance(301_000)
    const stale = await call(route, await proofFor(route, { nonce }))
    expect(stale.status).toBe(400)
    expect((await stale.json()).error).toBe('use_dpop_nonce')
    expect(stale.headers.get('dpop-nonce')).not.toBe(nonce)
  })

  it('refuses a replayed proof', async () => {
    const nonce = await currentNonce(route)
    const proof = await proofFor(route, { nonce })
    expect((await call(route, proof)).status).toBe(200)
    const again = await call(route, proof)
    expect(again.status).toBe(400)
    const body = await again.json()
    expect(body.error).toBe('invalid_dpop_proof')
    expect(body.error_description).toContain('already used')
  })

  const now = () => Math.floor(broker.clock() / 1000)
  it.each<[string, () => Partial<ProofOptions>]>([
    ['another method', () => ({ htm: 'GET' })],
    ['another endpoint', () => ({ htu: `${ISSUER}${route === '/v1/tokens' ? '/oauth/token' : '/v1/tokens'}` })],
    ['another host', () => ({ htu: `https://evil.example${route}` })],
    ['a time long past', () => ({ iat: now() - 3600 })],
    ['a time in the future', () => ({ iat: now() + 3600 })],
    ['the wrong typ', () => ({ header: { typ: 'JWT' } })],
    ['a private key in its jwk', () => ({ header: { jwk: { ...key.publicJwk, d: 'AAAA' } } })],
    ['no jti', () => ({ claims: { jti: undefined } })],
  ])('refuses a proof made for %s', async (_name, options) => {
    const nonce = await currentNonce(route)
    const res = await call(route, await proofFor(route, { nonce, ...options() }))
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_dpop_proof')
    expect(body.error_description).toMatch(/^DPoP: /)
  })

  it('refuses a proof signed with another key than its jwk, an HMAC proof, and two proofs', async () => {
    const nonce = await currentNonce(route)
    const other = await dpopKey()
    const swapped = await proofFor(route, { nonce, header: { jwk: other.publicJwk } })
    const hmac = await new SignJWT({ jti: 'x', htm: 'POST', htu: `${ISSUER}${route}`, iat: Math.floor(broker.clock() / 1000), nonce })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } } as never)
      .sign(new TextEncoder().encode('secret'))
    for (const proof of [swapped, hmac, [await proofFor(route, { nonce }), await proofFor(route, { nonce })]]) {
      const res = await call(route, proof)
      expect(res.status).toBe(400)
      expect((await res.json()).error).toBe('invalid_dpop_proof')
    }
  })

  it('refuses RSA proof keys the verifiers refuse: an exponent other than 65537, and binds a usual one', async () => {
    const nonce = await currentNonce(route)
    const e3 = await rsaDpopKey(3)
    const res = await call(route, await proofFor(route, { nonce }, e3))
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'DPoP: the DPoP proof jwk must be an RSA key with public exponent 65537 (e "AQAB")',
    })
    const usual = await rsaDpopKey(65537)
    const ok = await call(route, await proofFor(route, { nonce }, usual))
    expect(ok.status).toBe(200)
    expect(decodeJwt((await ok.json()).access_token).cnf).toEqual({ jkt: usual.jkt })
  })

  it('issues a plain bearer token and no nonce without a DPoP header', async () => {
    const res = await call(route, undefined)
    expect(res.status).toBe(200)
    expect(res.headers.get('dpop-nonce')).toBeNull()
    const body = await res.json()
    expect(body.token_type).toBe('Bearer')
    expect(decodeJwt(body.access_token).cnf).toBeUndefined()
  })
})

describe('rules with require_dpop', () => {
  const deploy = {
    task: { id: 'DEPLOY-1', requested_by: 'carol@example.com' },
    grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }],
  }

  it('refuses an unbound request, naming the DPoP header and the grant', async () => {
    const res = await call('/v1/tokens', undefined, json(deploy))
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_request')
    expect(body.error_description).toMatch(/^DPoP header: required.*grants\[0\] \(rule deploy-prod\)/)
  })

  it('lets a bound request through to the next requirement (human approval)', async () => {
    const nonce = await currentNonce('/v1/tokens')
    const res = await call('/v1/tokens', await proofFor('/v1/tokens', { nonce }), json(deploy))
    expect(res.status).not.toBe(400)
    expect(res.status).not.toBe(200)
  })
})

describe('metadata and the resource server', () => {
  it('advertises the DPoP proof algorithms (RFC 9449 §5.1)', async () => {
    const body = await (await broker.call('GET', '/.well-known/oauth-authorization-server')).json()
    expect(body.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'RS256', 'PS256'])
  })

  it('a bound token works at a resource server only with a proof from the same key', async () => {
    const nonce = await currentNonce('/oauth/token')
    const issued = await (await call('/oauth/token', await proofFor('/oauth/token', { nonce }))).json()
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'https://git.example.com/acme/app',
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: async (input, init) => broker.app.request(String(input), init),
      clock: broker.clock,
      liveness: { mode: 'none' },
    })
    const url = 'https://git.example.com/acme/app/docs/a.md'
    const proof = await dpopProof(key, { htm: 'GET', htu: url, accessToken: issued.access_token, clock: broker.clock })
    const claims = await verifier.verify(issued.access_token, { scheme: 'DPoP', dpop: { proof, method: 'GET', url } })
    expect(claims.cnf).toEqual({ jkt: key.jkt })
    const thief = await dpopKey()
    const stolen = await dpopProof(thief, { htm: 'GET', htu: url, accessToken: issued.access_token, clock: broker.clock })
    await expect(
      verifier.verify(issued.access_token, { scheme: 'DPoP', dpop: { proof: stolen, method: 'GET', url } }),
    ).rejects.toMatchObject({ code: 'invalid_dpop_proof' })
    await expect(verifier.verify(issued.access_token)).rejects.toMatchObject({ code: 'invalid_token', scheme: 'DPoP' })
  })
})

describe('without required nonces', () => {
  it('accepts a proof without a nonce when dpop.requireNonce is false', async () => {
    const relaxed = await makeTestBroker({ config: { dpop: { requireNonce: false } } })
    try {
      const proof = await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/oauth/token`, clock: relaxed.clock })
      const headers = new Headers(tokenForm().headers)
      headers.set('dpop', proof)
      const res = await relaxed.call('POST', '/oauth/token', { ...tokenForm(), headers, basic: A })
      expect(res.status).toBe(200)
      expect((await res.json()).token_type).toBe('DPoP')
    } finally {
      await relaxed.close()
    }
  })
})
