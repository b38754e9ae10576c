import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { exportJWK, SignJWT, type JWK, type JWTPayload } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createClientAuthenticator,
  generateSecret,
  hashSecret,
  JWT_BEARER_ASSERTION_TYPE,
  verifySecret,
  type ClientAuthenticatorOptions,
  type ClientRecord,
} from '../../src/client-auth/index.js'
import { epochSeconds, manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import { createMemoryStore } from '../../src/open-store.js'
import { createRateLimiter } from '../../src/limits/index.js'

const ISSUER = 'https://writ.example.com'
const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`
const SECRET = 'p@ss:w+rd/ü %&=é'
const OTHER_SECRET = generateSecret()

/** RFC 6749 §2.3.1: form-urlencode id and secret, then base64 `id:secret`. */
const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`

let secretHash: string
let otherHash: string
beforeAll(async () => {
  ;[secretHash, otherHash] = await Promise.all([hashSecret(SECRET), hashSecret(OTHER_SECRET)])
})

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwtClientKey = ecKey()
const edClientKey = generateKeyPairSync('ed25519')

async function publicJwk(key: KeyObject, kid: string): Promise<JWK> {
  return { ...(await exportJWK(key)), kid }
}

function setup(overrides: Partial<ClientAuthenticatorOptions> = {}) {
  const clock = manualClock()
  const store = createMemoryStore({ clock })
  const clients = new Map<string, ClientRecord>()
  const calls: string[] = []
  const authenticator = createClientAuthenticator({
    getClient: (id) => clients.get(id),
    store: store.once,
    issuer: ISSUER,
    tokenEndpoint: TOKEN_ENDPOINT,
    clock,
    secretCacheSeconds: 60,
    assertionMaxAgeSeconds: 300,
    verifySecret: (hash, secret) => {
      calls.push(hash)
      return verifySecret(hash, secret)
    },
    ...overrides,
  })
  return { clock, store, clients, calls, authenticator }
}

async function withClients(overrides: Partial<ClientAuthenticatorOptions> = {}) {
  const ctx = setup(overrides)
  ctx.clients.set('agent-a', { id: 'agent-a', auth: 'client_secret', secretHash })
  ctx.clients.set('agent-jwt', {
    id: 'agent-jwt',
    auth: 'private_key_jwt',
    jwks: {
      keys: [
        await publicJwk(jwtClientKey.publicKey, 'k1'),
        await publicJwk(edClientKey.publicKey, 'k2'),
      ],
    },
  })
  return ctx
}

async function failure(promise: Promise<unknown>): Promise<WritError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(WritError)
  return err as WritError
}

async function expectInvalidClient(promise: Promise<unknown>, detail?: RegExp): Promise<void> {
  const err = await failure(promise)
  expect(err.code).toBe('invalid_client')
  expect(err.status).toBe(401)
  expect(err.message).toBe('client authentication failed')
  if (detail) expect(err.detail).toMatch(detail)
}

describe('client_secret_basic and client_secret_post', () => {
  it('accepts Basic credentials whose secret needs form-urlencoding', async () => {
    const { authenticator } = await withClients()
    await expect(
      authenticator.authenticate({ authorization: basic('agent-a', SECRET), params: {} }),
    ).resolves.toEqual({ clientId: 'agent-a', method: 'client_secret_basic' })
  })

  it('refuses the same secret when the client sent it without form-urlencoding', async () => {
    const { authenticator } = await withClients()
    const raw = `Basic ${Buffer.from(`agent-a:${SECRET}`).toString('base64')}`
    await expectInvalidClient(authenticator.authenticate({ authorization: raw, params: {} }))
  })

  it('accepts client_id and client_secret form parameters', async () => {
    const { authenticator } = await withClients()
    await expect(
      authenticator.authenticate({ params: { client_id: 'agent-a', client_secret: SECRET } }),
    ).resolves.toEqual({ clientId: 'agent-a', method: 'client_secret_post' })
  })

  it('refuses a wrong secret without saying why', async () => {
    const { authenticator } = await withClients()
    await expectInvalidClient(
      authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {} }),
      /wrong secret/,
    )
    await expectInvalidClient(
      authenticator.authenticate({ params: { client_id: 'agent-a', client_secret: '' } }),
    )
  })

  it('refuses an unknown client the same way, after a dummy argon2 verification', async () => {
    const { authenticator, calls } = await withClients()
    await expectInvalidClient(
      authenticator.authenticate({ authorization: basic('nobody', SECRET), params: {} }),
      /unknown client/,
    )
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(calls[0]).not.toBe(secretHash)
  })

  it('refuses a secret for a client registered for private_key_jwt', async () => {
    const { authenticator, calls } = await withClients()
    await expectInvalidClient(
      authenticator.authenticate({ params: { client_id: 'agent-jwt', client_secret: SECRET } }),
      /does not authenticate with a client secret/,
    )
    expect(calls).toHaveLength(1)
  })

  it('refuses malformed Basic headers as invalid_client', async () => {
    const { authenticator } = await withClients()
    const headers = [
      'Basic',
      'Basic !!!notbase64',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      `Basic ${Buffer.from('agent-a:%zz').toString('base64')}`,
      `Basic ${Buffer.from(':secret').toString('base64')}`,
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`,
      'Bearer abc.def.ghi',
    ]
    for (const authorization of headers) {
      await expectInvalidClient(authenticator.authenticate({ authorization, params: {} }))
    }
  })

  it('refuses a client_id parameter that contradicts the Basic header', async () => {
    const { authenticator } = await withClients()
    const err = await failure(
      authenticator.authenticate({
        authorization: basic('agent-a', SECRET),
        params: { client_id: 'agent-b' },
      }),
    )
    expect(err.code).toBe('invalid_request')
  })

  it('refuses a secret without a client_id', async () => {
    const { authenticator } = await withClients()
    await expectInvalidClient(authenticator.authenticate({ params: { client_secret: SECRET } }))
  })

  it('asks for credentials when there are none', async () => {
    const { authenticator } = await withClients()
    const err = await failure(authenticator.authenticate({ params: { client_id: 'agent-a' } }))
    expect(err.code).toBe('invalid_client')
    expect(err.status).toBe(401)
  })

  it('refuses two authentication methods at once as invalid_request', async () => {
    const { authenticator } = await withClients()
    const both = [
      {
        authorization: basic('agent-a', SECRET),
        params: { client_id: 'agent-a', client_secret: SECRET },
      },
      {
        params: {
          client_id: 'agent-a',
          client_secret: SECRET,
          client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
          client_assertion: 'x.y.z',
        },
      },
      { authorization: basic('agent-a', SECRET), params: { client_assertion: 'x.y.z' } },
    ]
    for (const req of both) {
      const err = await failure(authenticator.authenticate(req))
      expect(err.code).toBe('invalid_request')
      expect(err.status).toBe(400)
    }
  })
})

describe('verified secret cache', () => {
  it('does not run argon2 again for a secret verified moments ago', async () => {
    const { authenticator, calls } = await withClients()
    await authenticator.authenticate({ authorization: basic('agent-a', SECRET), params: {} })
    await authenticator.authenticate({ params: { client_id: 'agent-a', client_secret: SECRET } })
    await authenticator.authenticate({ authorization: basic('agent-a', SECRET), params: {} })
    expect(calls).toEqual([secretHash])
  })

  it('never remembers a wrong secret', async () => {
    const { authenticator, calls } = await withClients()
    for (let i = 0; i < 2; i++) {
      await expectInvalidClient(
        authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {} }),
      )
    }
    expect(calls).toHaveLength(2)
  })

  it('verifies again once secretCacheSeconds have passed', async () => {
    const { authenticator, calls, clock } = await withClients()
    const req = { authorization: basic('agent-a', SECRET), params: {} }
    await authenticator.authenticate(req)
    clock.advance(59_999)
    await authenticator.authenticate(req)
    expect(calls).toHaveLength(1)
    clock.advance(1)
    await authenticator.authenticate(req)
    expect(calls).toHaveLength(2)
  })

  it('stops accepting a cached secret once the client secret hash changes', async () => {
    const { authenticator, clients, calls } = await withClients()
    const old = { authorization: basic('agent-a', SECRET), params: {} }
    await authenticator.authenticate(old)
    clients.set('agent-a', { id: 'agent-a', auth: 'client_secret', secretHash: otherHash })
    await expectInvalidClient(authenticator.authenticate(old), /wrong secret/)
    await expect(
      authenticator.authenticate({ authorization: basic('agent-a', OTHER_SECRET), params: {} }),
    ).resolves.toMatchObject({ clientId: 'agent-a' })
    expect(calls).toEqual([secretHash, otherHash, otherHash])
  })

  it('stops accepting a cached secret once the client is removed', async () => {
    const { authenticator, clients } = await withClients()
    const req = { authorization: basic('agent-a', SECRET), params: {} }
    await authenticator.authenticate(req)
    clients.delete('agent-a')
    await expectInvalidClient(authenticator.authenticate(req), /unknown client/)
  })

  it('shares one argon2 verification among concurrent first requests', async () => {
    const { authenticator, calls } = await withClients()
    const req = { authorization: basic('agent-a', SECRET), params: {} }
    const results = await Promise.all(
      Array.from({ length: 5 }, () => authenticator.authenticate(req)),
    )
    expect(results.every((r) => r.clientId === 'agent-a')).toBe(true)
    expect(calls).toHaveLength(1)
  })

  it('evicts the oldest entries beyond its bound', async () => {
    const { authenticator, clients, calls } = await withClients({ secretCacheMaxEntries: 1 })
    clients.set('agent-b', { id: 'agent-b', auth: 'client_secret', secretHash: otherHash })
    const a = { authorization: basic('agent-a', SECRET), params: {} }
    const b = { authorization: basic('agent-b', OTHER_SECRET), params: {} }
    await authenticator.authenticate(a)
    await authenticator.authenticate(b)
    await authenticator.authenticate(b)
    await authenticator.authenticate(a)
    expect(calls).toEqual([secretHash, otherHash, secretHash])
  })
})

describe('per-address budget of failed secret checks', () => {
  const budget = (burst: number) => {
    const clock = manualClock()
    return { clock, failureBudget: createRateLimiter({ burst, perSecond: 1 / 60, maxKeys: 10, clock }) }
  }

  it('spends it on wrong secrets and unknown clients, then refuses without argon2 (429)', async () => {
    const { failureBudget, clock } = budget(2)
    const { authenticator, calls } = await withClients({ failureBudget })
    const from = '192.0.2.1'
    await expectInvalidClient(authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {}, source: from }))
    await expectInvalidClient(authenticator.authenticate({ authorization: basic('ghost', 'x'), params: {}, source: from }))
    expect(calls).toHaveLength(2)
    const err = await failure(authenticator.authenticate({ authorization: basic('agent-a', 'again'), params: {}, source: from }))
    expect(err).toMatchObject({ code: 'slow_down', status: 429, retryAfterSeconds: 60 })
    expect(err.message).toMatch(/failed client authentications from this address/)
    expect(calls).toHaveLength(2)
    // Another address is not affected; time refills the budget.
    await authenticator.authenticate({ authorization: basic('agent-a', SECRET), params: {}, source: '192.0.2.2' })
    clock.advance(60_000)
    await expectInvalidClient(authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {}, source: from }))
  })

  it('costs a secret that verifies nothing, and lets a cached secret through from a spent address', async () => {
    const { failureBudget } = budget(1)
    const { authenticator, clock } = await withClients({ failureBudget })
    const from = '192.0.2.1'
    // Verified again and again (the cache expires each time): never spends the budget.
    for (let i = 0; i < 3; i++) {
      clock.advance(61_000)
      await authenticator.authenticate({ authorization: basic('agent-a', SECRET), params: {}, source: from })
    }
    await expectInvalidClient(authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {}, source: from }))
    await expect(
      authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {}, source: from }),
    ).rejects.toMatchObject({ code: 'slow_down' })
    // The secret verified moments ago needs no argon2, so the spent budget does not stop it.
    await authenticator.authenticate({ params: { client_id: 'agent-a', client_secret: SECRET }, source: from })
  })

  it('does not apply to a request without an address (in-process)', async () => {
    const { failureBudget } = budget(1)
    const { authenticator } = await withClients({ failureBudget })
    for (let i = 0; i < 3; i++) {
      await expectInvalidClient(authenticator.authenticate({ authorization: basic('agent-a', 'wrong'), params: {} }))
    }
  })
})

describe('private_key_jwt', () => {
  const defaults = (now: number): JWTPayload => ({
    iss: 'agent-jwt',
    sub: 'agent-jwt',
    aud: TOKEN_ENDPOINT,
    iat: now,
    exp: now + 60,
    jti: randomBytes(12).toString('base64url'),
  })

  async function assertion(
    now: number,
    claims: JWTPayload = {},
    options: { key?: KeyObject | Uint8Array; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const payload = { ...defaults(now), ...claims }
    for (const [name, value] of Object.entries(payload)) {
      if (value === undefined) delete payload[name]
    }
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...options.header } as { alg: string })
      .sign(options.key ?? jwtClientKey.privateKey)
  }

  const request = (jwt: string, extra: Record<string, string> = {}) => ({
    params: { client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt, ...extra },
  })

  it('accepts an assertion from a registered key, for the token endpoint or issuer', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    await expect(authenticator.authenticate(request(await assertion(now)))).resolves.toEqual({
      clientId: 'agent-jwt',
      method: 'private_key_jwt',
    })
    const forIssuer = await assertion(now, { aud: [ISSUER, 'https://other.example'] })
    await expect(
      authenticator.authenticate(request(forIssuer, { client_id: 'agent-jwt' })),
    ).resolves.toMatchObject({ clientId: 'agent-jwt' })
  })

  it('accepts an EdDSA assertion', async () => {
    const { authenticator, clock } = await withClients()
    const jwt = await assertion(epochSeconds(clock), {}, {
      key: edClientKey.privateKey,
      header: { alg: 'EdDSA', kid: 'k2' },
    })
    await expect(authenticator.authenticate(request(jwt))).resolves.toMatchObject({
      method: 'private_key_jwt',
    })
  })

  it('refuses a replayed assertion', async () => {
    const { authenticator, clock } = await withClients()
    const jwt = await assertion(epochSeconds(clock))
    await authenticator.authenticate(request(jwt))
    clock.advance(5_000)
    await expectInvalidClient(authenticator.authenticate(request(jwt)), /already used/)
  })

  it('refuses an assertion for another audience', async () => {
    const { authenticator, clock } = await withClients()
    const jwt = await assertion(epochSeconds(clock), { aud: 'https://other.example/token' })
    await expectInvalidClient(authenticator.authenticate(request(jwt)), /aud/)
  })

  it('refuses an expired assertion', async () => {
    const { authenticator, clock } = await withClients()
    const jwt = await assertion(epochSeconds(clock))
    clock.advance((60 + 15) * 1000)
    await expectInvalidClient(authenticator.authenticate(request(jwt)), /exp/)
  })

  it('refuses an assertion without exp or jti', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    await expectInvalidClient(
      authenticator.authenticate(request(await assertion(now, { exp: undefined }))),
      /exp/,
    )
    await expectInvalidClient(
      authenticator.authenticate(request(await assertion(now, { jti: undefined }))),
      /jti/,
    )
  })

  it('refuses an assertion issued too long ago', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    const jwt = await assertion(now, { iat: now - 300 - 16, exp: now + 60 })
    await expectInvalidClient(authenticator.authenticate(request(jwt)), /iat/)
  })

  it('refuses HS256 signed with a guessed secret or with the public key', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    const guessed = await assertion(now, {}, {
      key: new TextEncoder().encode('guessed-secret-guessed-secret-32'),
      header: { alg: 'HS256' },
    })
    await expectInvalidClient(authenticator.authenticate(request(guessed)), /alg/i)
    const publicPem = jwtClientKey.publicKey.export({ format: 'pem', type: 'spki' }).toString()
    const confused = await assertion(now, {}, {
      key: new TextEncoder().encode(publicPem),
      header: { alg: 'HS256' },
    })
    await expectInvalidClient(authenticator.authenticate(request(confused)), /alg/i)
  })

  it('refuses an unsigned (alg none) assertion', async () => {
    const { authenticator, clock } = await withClients()
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const jwt = `${b64({ alg: 'none' })}.${b64(defaults(epochSeconds(clock)))}.`
    await expectInvalidClient(authenticator.authenticate(request(jwt)))
  })

  it('refuses an assertion signed by a key the client never registered, even via jku', async () => {
    const { authenticator, clock } = await withClients()
    const attacker = ecKey()
    const now = epochSeconds(clock)
    const unregistered = await assertion(now, {}, { key: attacker.privateKey })
    await expectInvalidClient(authenticator.authenticate(request(unregistered)), /signature/)
    const withJku = await assertion(now, {}, {
      key: attacker.privateKey,
      header: { kid: 'attacker', jku: 'https://attacker.example/jwks.json' },
    })
    await expectInvalidClient(authenticator.authenticate(request(withJku)))
  })

  it('refuses an assertion whose iss is not its sub, or whose client_id differs', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    await expectInvalidClient(
      authenticator.authenticate(request(await assertion(now, { iss: 'agent-a' }))),
      /iss/,
    )
    await expectInvalidClient(
      authenticator.authenticate(request(await assertion(now), { client_id: 'agent-a' })),
    )
  })

  it('refuses an assertion from a client registered for client_secret, or unknown', async () => {
    const { authenticator, clock } = await withClients()
    const now = epochSeconds(clock)
    const asSecretClient = await assertion(now, { iss: 'agent-a', sub: 'agent-a' })
    await expectInvalidClient(
      authenticator.authenticate(request(asSecretClient)),
      /does not authenticate with private_key_jwt/,
    )
    const unknown = await assertion(now, { iss: 'ghost', sub: 'ghost' })
    await expectInvalidClient(authenticator.authenticate(request(unknown)), /unknown client/)
  })

  it('refuses a malformed assertion, and a missing or foreign assertion type', async () => {
    const { authenticator, clock } = await withClients()
    await expectInvalidClient(authenticator.authenticate(request('not-a-jwt')))
    const jwt = await assertion(epochSeconds(clock))
    const missing = await failure(authenticator.authenticate({ params: { client_assertion: jwt } }))
    expect(missing.code).toBe('invalid_request')
    const foreign = await failure(
      authenticator.authenticate({
        params: {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
          client_assertion: jwt,
        },
      }),
    )
    expect(foreign.code).toBe('invalid_request')
  })

  it('lets store failures through as they are', async () => {
    const { authenticator, clock, store } = await withClients()
    await store.close()
    const jwt = await assertion(epochSeconds(clock))
    const err = await failure(authenticator.authenticate(request(jwt)))
    expect(err.code).toBe('temporarily_unavailable')
    expect(err.status).toBe(503)
  })
})

describe('hashSecret', () => {
  it('hashes with argon2id and the OWASP parameters, and verifies', async () => {
    const secret = generateSecret()
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const hash = await hashSecret(secret)
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(await verifySecret(hash, secret)).toBe(true)
    expect(await verifySecret(hash, `${secret}x`)).toBe(false)
  })
})
