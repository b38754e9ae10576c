import { randomBytes, sign } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStoreKeys } from '../../src/wire/keys.js'
import { audienceFor, mintAccessToken, scopeFor } from '../../src/tokens/index.js'
import { tokenClaimsSha256 } from '../../src/wire/claims-digest.js'
import {
  createVerifier,
  type LivenessOptions,
  type Verifier,
  VerifierError,
} from '../../src/verifier/index.js'
import {
  docsManifest,
  form,
  ISSUER,
  json,
  makeTestBroker,
  SECRETS,
  type TestBroker,
} from '../helpers/broker.js'
import { dpopKey, dpopProof, type DpopKey } from '../helpers/dpop.js'
import { testGrant } from '../helpers/grant.js'

/*
 * The attack: someone holds one of the broker's signing keys and one live grant id (a token they
 * saw). They sign a token that reuses the grant's `jti` with claims of their choosing. Liveness
 * must refuse it everywhere (/oauth/introspect, the verifier in `redis` and in `introspection`
 * mode), because its claims are not the ones recorded for the grant, while the real token passes.
 */

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
const OTHER = 'https://git.example.com/acme/billing'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

type Claims = Record<string, unknown>

let broker: TestBroker
let prefix: string
let admin: Redis
const verifiers: Verifier[] = []

beforeAll(async () => {
  prefix = `writ-forged-${randomBytes(6).toString('hex')}:`
  broker = await makeTestBroker({
    config: {
      store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 1000 },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
})

afterAll(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await broker?.close()
  try {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
  } finally {
    admin?.disconnect()
  }
})

/** A verifier on the broker (its JWKS and introspection over the app), for `audience`. */
function verifierFor(mode: 'redis' | 'introspection', audience: string | string[] = APP): Verifier {
  const liveness: LivenessOptions =
    mode === 'redis'
      ? { mode, redis: REDIS_URL, keyPrefix: prefix, cacheTtlSeconds: 3600 }
      : { mode, endpoint: `${ISSUER}/oauth/introspect`, clientId: A[0], clientSecret: A[1], cacheTtlSeconds: 3600 }
  const verifier = createVerifier({
    issuer: ISSUER,
    audience,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: broker.clock,
    liveness,
  })
  verifiers.push(verifier)
  return verifier
}

/** A `redis` verifier whose revocation subscription is up (so it caches what it confirms). */
async function subscribedRedisVerifier(audience: string | string[] = APP): Promise<Verifier> {
  const verifier = verifierFor('redis', audience)
  const deadline = Date.now() + 10_000
  while (!(verifier.status() as { subscribed?: boolean }).subscribed) {
    if (Date.now() > deadline) throw new Error('the verifier did not subscribe')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return verifier
}

/** The verifier's answer: 'ok' or the error code. */
async function outcome(verifier: Verifier, token: string, dpop?: { key: DpopKey; url: string }): Promise<string> {
  try {
    if (dpop) {
      const proof = await dpopProof(dpop.key, { htm: 'GET', htu: dpop.url, accessToken: token, clock: broker.clock })
      await verifier.verify(token, { scheme: 'DPoP', dpop: { proof, method: 'GET', url: dpop.url } })
    } else {
      await verifier.verify(token)
    }
    return 'ok'
  } catch (err) {
    if (err instanceof VerifierError) return err.code
    throw err
  }
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const res = await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })
  expect(res.status).toBe(200)
  return res.json()
}

async function issue(): Promise<string> {
  const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
  expect(res.status).toBe(200)
  return (await res.json()).access_token
}

/** A DPoP-bound token (the token endpoint's nonce round included). */
async function issueBound(key: DpopKey): Promise<string> {
  const send = async (nonce?: string) =>
    broker.call('POST', '/v1/tokens', {
      body: JSON.stringify(docsManifest()),
      headers: {
        'content-type': 'application/json',
        dpop: await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/v1/tokens`, clock: broker.clock, ...(nonce ? { nonce } : {}) }),
      },
      basic: A,
    })
  const first = await send()
  const res = first.status === 200 ? first : await send(first.headers.get('dpop-nonce') ?? undefined)
  expect(res.status).toBe(200)
  const body = await res.json()
  expect(body.token_type).toBe('DPoP')
  return body.access_token
}

const claimsOf = (token: string): Claims =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Claims

/**
 * The attacker's token: `token`'s claims changed by `change`, signed with the broker's real
 * current signing key (what a stolen key allows), under its real `kid`.
 */
function forge(token: string, change: (claims: Claims) => void): string {
  const claims = claimsOf(token)
  change(claims)
  const key = broker.keys.signingKey()
  const input = `${key.encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}

const forgeries: Array<{ name: string; audience: string; change: (claims: Claims) => void }> = [
  {
    name: 'wider authorization_details',
    audience: APP,
    change: (claims) => {
      claims.authorization_details = [{ type: 'repo', actions: ['read', 'write', 'admin'], locations: [APP], identifier: '**' }]
      claims.scope = 'repo:read repo:write repo:admin'
    },
  },
  { name: 'another aud', audience: OTHER, change: (claims) => void (claims.aud = OTHER) },
  { name: 'a later exp', audience: APP, change: (claims) => void (claims.exp = (claims.exp as number) + 86_400) },
  {
    name: 'the same claims re-encoded (members reordered)',
    audience: APP,
    change: (claims) => {
      const reordered = Object.fromEntries(Object.entries(claims).reverse())
      for (const name of Object.keys(claims)) delete claims[name]
      Object.assign(claims, reordered)
    },
  },
]

describe('a token signed with a real key that reuses a live grant id is refused', () => {
  for (const { name, audience, change } of forgeries) {
    it(`${name}: /oauth/introspect, and the verifier in redis and introspection mode`, async () => {
      const real = await issue()
      const forged = forge(real, change)
      // The forgery is a well-signed token of this issuer naming the real, live grant.
      expect(claimsOf(forged).jti).toBe(claimsOf(real).jti)
      expect(tokenClaimsSha256(forged)).not.toBe(tokenClaimsSha256(real))

      expect(await introspect(forged)).toEqual({ active: false })

      // Cold: the verifier has never seen the grant.
      expect(await outcome(await subscribedRedisVerifier(audience), forged)).toBe('invalid_token')
      expect(await outcome(verifierFor('introspection', audience), forged)).toBe('token_revoked')

      // Warm: the verifier confirmed the real token first (and cached that); the forgery must not
      // ride on that confirmation.
      // (A service that answers to both audiences, so the real token verifies there too.)
      const audiences = [APP, audience]
      const redis = await subscribedRedisVerifier(audiences)
      const introspection = verifierFor('introspection', audiences)
      expect(await outcome(redis, real)).toBe('ok')
      expect(await outcome(introspection, real)).toBe('ok')
      expect(await outcome(redis, forged)).toBe('invalid_token')
      expect(await outcome(introspection, forged)).toBe('token_revoked')

      // The real token still passes everywhere.
      expect(await introspect(real)).toMatchObject({ active: true, jti: claimsOf(real).jti })
      expect(await outcome(redis, real)).toBe('ok')
      expect(await outcome(introspection, real)).toBe('ok')
    })
  }

  it('a DPoP-bound token forged without cnf (to use it as a bearer token) is refused', async () => {
    const key = await dpopKey()
    const real = await issueBound(key)
    expect(claimsOf(real).cnf).toEqual({ jkt: key.jkt })
    const forged = forge(real, (claims) => void delete claims.cnf)

    expect(await introspect(forged)).toEqual({ active: false })
    const redis = await subscribedRedisVerifier()
    const introspection = verifierFor('introspection')
    const dpop = { key, url: `${APP}/docs/a.md` }
    expect(await outcome(redis, real, dpop)).toBe('ok')
    expect(await outcome(introspection, real, dpop)).toBe('ok')
    expect(await outcome(redis, forged)).toBe('invalid_token')
    expect(await outcome(introspection, forged)).toBe('token_revoked')

    // Nor does the forgery revoke the grant (RFC 7009 answers 200 for a token it does not know).
    const revoke = await broker.call('POST', '/oauth/revoke', { ...form({ token: forged }), basic: A })
    expect(revoke.status).toBe(200)
    expect(await introspect(real)).toMatchObject({ active: true })
  })

  it('the grant record and its grant.issued event hold the digest of the issued token', async () => {
    const real = await issue()
    const { jti } = claimsOf(real)
    const record = JSON.parse((await admin.get(createStoreKeys(prefix).grant('agent-a', jti as string)))!)
    expect(record).toMatchObject({ type: 'grant.issued', grant: jti, claims_sha256: tokenClaimsSha256(real) })
  })

  it('a record without a digest (written by an older broker) is judged by its existence alone', async () => {
    // The older broker's grant: recorded with no claims digest, its token minted as it minted it.
    const grant = testGrant('agent-a', 600, {
      issuedAt: Math.floor(broker.clock() / 1000),
      expiresAt: Math.floor(broker.clock() / 1000) + 600,
      authorizationDetails: [{ type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/**' }],
    })
    await broker.store.grants.createGrant(grant)
    const options = { issuer: ISSUER, audience: audienceFor(grant.authorizationDetails, 'writ'), grant }
    const token = await mintAccessToken({ key: broker.keys.signingKey(), ...options, scope: scopeFor(grant.authorizationDetails) })
    expect(await introspect(token)).toMatchObject({ active: true })
    expect(await outcome(await subscribedRedisVerifier(), token)).toBe('ok')
    expect(await outcome(verifierFor('introspection'), token)).toBe('ok')
  })

  it('a grant record the verifier cannot read fails closed (liveness_unavailable), never live', async () => {
    const real = await issue()
    const key = createStoreKeys(prefix).grant('agent-a', claimsOf(real).jti as string)
    await admin.set(key, '"not a grant record"', 'EX', 600)
    expect(await outcome(await subscribedRedisVerifier(), real)).toBe('liveness_unavailable')
  })
})
