import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createVerifier,
  type LivenessOptions,
  type Verifier,
  VerifierError,
  writMiddleware,
  type WritVariables,
} from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { freePort } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

/** The downstream service talks to the real broker app in-process (JWKS, introspection). */
const toBroker: typeof fetch = async (input, init) => broker.app.request(String(input), init)

function service(liveness: LivenessOptions = { mode: 'none' }): { app: Hono<{ Variables: WritVariables }>; verifier: Verifier } {
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: APP,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: toBroker,
    clock: broker.clock,
    liveness,
    realm: 'docs',
  })
  const app = new Hono<{ Variables: WritVariables }>()
  app.use(
    '/docs/*',
    writMiddleware(verifier, {
      authorize: (c) => ({
        type: 'repo',
        action: c.req.method === 'GET' ? 'read' : 'write',
        resource: { location: APP, identifier: c.req.path.slice(1) },
      }),
    }),
  )
  app.get('/docs/*', (c) => c.json({ client: c.get('writClaims').client_id, task: c.get('writClaims').task?.id }))
  app.put('/docs/*', (c) => c.json({ written: c.req.path }))
  return { app, verifier }
}

async function token(grants = docsManifest().grants.slice(0, 1)): Promise<string> {
  const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ grants })), basic: A })
  expect(res.status).toBe(200)
  return (await res.json()).access_token
}

const get = (app: Hono<{ Variables: WritVariables }>, path: string, authorization?: string, method = 'GET') =>
  app.request(`http://service.test${path}`, { method, headers: authorization === undefined ? {} : { authorization } })

describe('writMiddleware (hono)', () => {
  it('lets a valid token through and hands the claims to the handler', async () => {
    const { app } = service()
    const res = await get(app, '/docs/guide.md', `Bearer ${await token()}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ client: 'agent-a', task: 'JIRA-4711' })
  })

  it('answers a request without credentials with both challenges and no error code (RFC 6750 §3.1)', async () => {
    const { app } = service()
    for (const authorization of [undefined, 'Basic YTpi']) {
      const res = await get(app, '/docs/guide.md', authorization)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'Bearer realm="docs", DPoP realm="docs", algs="ES256 EdDSA RS256 PS256"',
      )
    }
  })

  it('answers a malformed Authorization header with 400 invalid_request', async () => {
    const { app } = service()
    const res = await get(app, '/docs/guide.md', 'Bearer a b')
    expect(res.status).toBe(400)
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs", error="invalid_request"/)
  })

  it('answers 403 insufficient_scope when no grant covers the request', async () => {
    const { app } = service()
    const t = await token()
    const res = await get(app, '/docs/guide.md', `Bearer ${t}`, 'PUT')
    expect(res.status).toBe(403)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="docs", error="insufficient_scope", error_description="the token does not allow repo write on https://git.example.com/acme/app docs/guide.md"',
    )
    const writer = await token(docsManifest().grants)
    expect((await get(app, '/docs/guide.md', `Bearer ${writer}`, 'PUT')).status).toBe(200)
  })

  it('answers 401 invalid_token for an expired token, naming why', async () => {
    const { app } = service()
    const t = await token()
    broker.clock.advance(16 * 60_000)
    const res = await get(app, '/docs/guide.md', `Bearer ${t}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="docs", error="invalid_token", error_description="the token has expired"',
    )
    expect(await res.json()).toEqual({ error: 'invalid_token', error_description: 'the token has expired' })
  })
})

describe('authorize without a location: checked here, at the verifier\'s audience', () => {
  const WIKI = 'https://git.example.com/acme/wiki'

  /** A service at WIKI whose routes name no location, as the earlier JSDoc examples did. */
  function wiki(): Hono<{ Variables: WritVariables }> {
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: WIKI,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: toBroker,
      clock: broker.clock,
      liveness: { mode: 'none' },
    })
    const app = new Hono<{ Variables: WritVariables }>()
    app.use(
      '/docs/*',
      writMiddleware(verifier, {
        authorize: (c) => ({
          type: 'repo',
          action: c.req.method === 'GET' ? 'read' : 'write',
          resource: { identifier: c.req.path.slice(1) },
        }),
      }),
    )
    app.get('/docs/*', (c) => c.json({ read: c.req.path }))
    app.put('/docs/*', (c) => c.json({ written: c.req.path }))
    return app
  }

  it('never lets the grant for service A authorize a write at service B when the token names both', async () => {
    // A real token from the broker: write on APP, read on WIKI, so its aud names both services.
    const access = await token([
      { type: 'repo', actions: ['write'], locations: [APP], identifier: 'docs/**' },
      { type: 'repo', actions: ['read'], locations: [WIKI], identifier: 'docs/**' },
    ])
    const app = wiki()
    const write = await get(app, '/docs/home.md', `Bearer ${access}`, 'PUT')
    expect(write.status).toBe(403)
    expect(write.headers.get('www-authenticate')).toContain(
      'error_description="the token does not allow repo write on https://git.example.com/acme/wiki docs/home.md"',
    )
    // The grant that does name this service still works.
    expect((await get(app, '/docs/home.md', `Bearer ${access}`)).status).toBe(200)
  })
})

describe('introspection liveness (RFC 7662 against the broker)', () => {
  // The verifier authenticates as a resource server: the policy's `introspect: any` client.
  const introspection = (secret: string = SECRETS['docs-service'], clientId = 'docs-service'): LivenessOptions => ({
    mode: 'introspection',
    endpoint: `${ISSUER}/oauth/introspect`,
    clientId,
    clientSecret: secret,
    cacheTtlSeconds: 5,
  })

  it('sees a revocation once its short cache has expired', async () => {
    const { app, verifier } = service(introspection())
    const t = await token()
    expect((await get(app, '/docs/a.md', `Bearer ${t}`)).status).toBe(200)
    const revoked = await broker.call('POST', '/oauth/revoke', { ...form({ token: t }), basic: A })
    expect(revoked.status).toBe(200)
    // Within cacheTtlSeconds the cached answer stands (documented); afterwards the broker is asked.
    expect((await get(app, '/docs/a.md', `Bearer ${t}`)).status).toBe(200)
    broker.clock.advance(6_000)
    const res = await get(app, '/docs/a.md', `Bearer ${t}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/error_description="the token has been revoked"/)
    expect(verifier.status()).toEqual({ mode: 'introspection', cachedAnswers: 1 })
  })

  it("learns nothing through an ordinary client's credentials: other clients' tokens are refused", async () => {
    // agent-b is a client, not a resource server: the broker answers it only about its own tokens.
    const { app } = service(introspection(SECRETS['agent-b'], 'agent-b'))
    const res = await get(app, '/docs/a.md', `Bearer ${await token()}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
  })

  it('fails closed (503, Retry-After, no challenge) when the endpoint is unreachable or refuses it', async () => {
    const port = await freePort()
    const unreachable = createVerifier({
      issuer: ISSUER,
      audience: APP,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: async (input, init) => (String(input).startsWith(ISSUER) ? toBroker(input, init) : fetch(input, init)),
      clock: broker.clock,
      liveness: { mode: 'introspection', endpoint: `http://127.0.0.1:${port}/oauth/introspect`, clientId: 'docs-service', clientSecret: 'x' },
    })
    const wrongSecret = service(introspection('not-the-secret')).verifier
    const t = await token()
    for (const verifier of [unreachable, wrongSecret]) {
      const err = await verifier.verify(t).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(VerifierError)
      expect((err as VerifierError).code).toBe('liveness_unavailable')
      const res = verifier.errorResponse(err as VerifierError)
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(res.headers.get('www-authenticate')).toBeNull()
    }
  })
})

describe('VerifierError challenges', () => {
  it('keeps quotes and backslashes out of the quoted strings', () => {
    const err = new VerifierError('invalid_token', 'bad "kid" \\ here\n')
    expect(err.wwwAuthenticate({ realm: 'a"b' })).toBe('Bearer realm="ab", error="invalid_token", error_description="bad kid  here"')
  })

  it('maps every code to a status and an RFC 6750 / 9449 error', () => {
    const cases: Array<[VerifierError['code'], number, string | undefined]> = [
      ['invalid_request', 400, 'invalid_request'],
      ['invalid_token', 401, 'invalid_token'],
      ['token_expired', 401, 'invalid_token'],
      ['token_revoked', 401, 'invalid_token'],
      ['audience_mismatch', 401, 'invalid_token'],
      ['issuer_mismatch', 401, 'invalid_token'],
      ['insufficient_scope', 403, 'insufficient_scope'],
      ['invalid_dpop_proof', 401, 'invalid_dpop_proof'],
      ['use_dpop_nonce', 401, 'use_dpop_nonce'],
      ['liveness_unavailable', 503, undefined],
    ]
    for (const [code, status, challenge] of cases) {
      const err = new VerifierError(code, 'm')
      expect([err.status, err.challengeError]).toEqual([status, challenge])
    }
    expect(new VerifierError('invalid_dpop_proof', 'm').wwwAuthenticate()).toMatch(/^DPoP error="invalid_dpop_proof"/)
  })
})
