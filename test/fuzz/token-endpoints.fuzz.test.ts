import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/manifest/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { fuzz, hostileJson, hostileText } from './fuzz-runs.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const CLIENTS = ['agent-a', 'agent-b', 'agent-jwt']
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const CIBA = 'urn:openid:params:grant-type:ciba'
/** RFC 6749 / 7009 / 8707 / 9449 / CIBA codes and writ's own: any other `error` is a bug. */
const ERROR_CODES = new Set([
  'invalid_target',
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'access_denied', 'unsupported_token_type', 'invalid_token', 'invalid_authorization_details',
  'invalid_dpop_proof', 'use_dpop_nonce', 'authorization_pending', 'slow_down', 'expired_token',
  'quota_exceeded', 'not_found', 'temporarily_unavailable',
])

let broker: TestBroker
let liveToken: string
let liveGrantId: string
let attackerKey: CryptoKey

const basicHeader = (id: string, secret: string): string => {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
}
const VALID_AUTH = basicHeader(...A)

beforeAll(async () => {
  // The per-client rate limit has its own tests (test/faults/abuse-limits.test.ts): lift it here.
  broker = await makeTestBroker({ config: { limits: { clientBurst: 1_000_000 } } })
  attackerKey = (await generateKeyPair('ES256')).privateKey
  const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
  liveToken = (await res.json()).access_token
  liveGrantId = JSON.parse(Buffer.from(liveToken.split('.')[1]!, 'base64url').toString()).jti
})
afterAll(() => broker?.close())

/** Live grants per client, and of every client: what every refused request must leave as it was. */
async function storeSnapshot(): Promise<string> {
  const counts = await Promise.all(CLIENTS.map((id) => broker.store.grants.countLiveGrants(id)))
  const live = await broker.store.grants.listGrants({})
  return JSON.stringify({ counts, ids: live.map((g) => g.id).sort() })
}

interface HttpCase {
  headers: Record<string, string>
  body: string
}

/** Sends a case and checks the refusal: 4xx, RFC 6749 JSON, no token, nothing stored. */
async function expectRefused(method: 'POST', path: string, c: HttpCase): Promise<void> {
  const before = await storeSnapshot()
  const res = await broker.call(method, path, { headers: c.headers, body: c.body })
  const text = await res.text()
  const context = `${path} ${res.status} ${text.slice(0, 300)} for ${JSON.stringify(c).slice(0, 600)}`
  expect(res.status, context).toBeGreaterThanOrEqual(400)
  expect(res.status, context).toBeLessThan(500)
  expect(res.headers.get('content-type'), context).toMatch(/^application\/json/)
  const body = JSON.parse(text)
  expect(ERROR_CODES.has(body.error), context).toBe(true)
  expect(typeof body.error_description, context).toBe('string')
  expect(text, context).not.toContain('access_token')
  expect(await storeSnapshot(), context).toBe(before)
}

/** Header text an HTTP client can send: Latin-1 without control characters. */
const headerText = (maxLength: number): fc.Arbitrary<string> =>
  hostileText(maxLength).map((t) => [...t].filter((ch) => ch.charCodeAt(0) >= 0x20 && ch.charCodeAt(0) <= 0xff && ch !== '\x7f').join(''))

/** An Authorization header that does not authenticate anyone. */
const badAuth: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constant({}),
  headerText(120).map((h) => ({ authorization: h })),
  fc.tuple(fc.constantFrom(...CLIENTS, 'nobody', ''), hostileText(40)).map(([id, secret]) => ({
    authorization: basicHeader(id, secret === SECRETS['agent-a'] || secret === SECRETS['agent-b'] ? `${secret}x` : secret),
  })),
  fc.base64String({ maxLength: 80 }).map((b) => ({ authorization: `Basic ${b}` })),
)

/** authorization_details that no policy rule allows: malformed, or well-formed for nothing. */
const badDetails: fc.Arbitrary<string> = fc.oneof(
  hostileText(200),
  hostileJson().map((v) => JSON.stringify(v) ?? 'null'),
  fc
    .array(
      fc.record(
        {
          type: hostileText(20).filter((t) => t !== 'repo' && t !== 'deploy'),
          actions: fc.array(hostileText(12)),
          locations: fc.array(hostileText(60)),
          identifier: hostileText(40),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    )
    .map((v) => JSON.stringify(v)),
  fc
    .array(
      fc.record({
        type: fc.constant('repo'),
        actions: fc.array(hostileText(12).filter((a) => a !== 'read' && a !== 'write'), { minLength: 1, maxLength: 3 }),
        locations: fc.constant(['https://git.example.com/acme/app']),
        identifier: fc.constant('docs/**'),
      }),
      { minLength: 1, maxLength: 3 },
    )
    .map((v) => JSON.stringify(v)),
)

const VALID_DETAILS = JSON.stringify(docsManifest().grants)
const extras = fc.dictionary(
  fc.constantFrom('task_id', 'task_purpose', 'requested_by', 'scope', 'resource', 'audience', 'nonce', 'x'),
  hostileText(80),
  { maxKeys: 4 },
)
const badTtl = hostileText(20).filter((t) => {
  try {
    parseDuration(t, 'ttl')
    return false
  } catch {
    return true
  }
})

const formCase = (headers: Record<string, string>, params: Record<string, string>): HttpCase => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(params).toString(),
})

/** A client assertion that must not authenticate agent-jwt: garbage, unsigned or signed by another key. */
const badAssertion: fc.Arbitrary<Promise<string>> = fc.oneof(
  hostileText(300).map(async (t) => t),
  fc
    .array(fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=/g, '')), { minLength: 0, maxLength: 6 })
    .map(async (parts) => parts.join('.')),
  fc.record({ header: hostileJson(), payload: hostileJson() }).map(async ({ header, payload }) =>
    [header, payload, ''].map((p) => Buffer.from(JSON.stringify(p) ?? '').toString('base64url')).join('.'),
  ),
  fc
    .record({
      alg: fc.constantFrom('none', 'HS256', 'ES256'),
      claims: fc.dictionary(fc.constantFrom('iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'nbf'), hostileJson(), { maxKeys: 4 }),
    })
    .map(async ({ alg, claims }) => {
      const now = Math.floor(broker.clock() / 1000)
      const payload = { iss: 'agent-jwt', sub: 'agent-jwt', aud: `${ISSUER}/oauth/token`, exp: now + 60, iat: now, jti: randomUUID(), ...claims }
      if (alg === 'ES256') {
        // Signed as agent-jwt's key id, but by a key the broker has never seen.
        return new SignJWT(payload as never).setProtectedHeader({ alg: 'ES256', kid: 'agent-jwt-1' }).sign(attackerKey)
      }
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
      return `${enc({ alg, kid: 'agent-jwt-1' })}.${enc(payload)}.${alg === 'none' ? '' : 'c2ln'}`
    }),
)

describe('fuzz: POST /oauth/token', () => {
  it('refuses every unauthenticated request, whatever its parameters', async () => {
    await fuzz(
      '/oauth/token (bad client authentication)',
      60,
      fc.tuple(badAuth, extras, fc.oneof(fc.constant(VALID_DETAILS), badDetails), fc.constantFrom('client_credentials', CIBA)),
      ([headers, more, details, grantType]) =>
        expectRefused('POST', '/oauth/token', formCase(headers, { ...more, grant_type: grantType, authorization_details: details })),
    )
  })

  it('refuses every bad client assertion', async () => {
    await fuzz('/oauth/token (client assertions)', 60, fc.tuple(badAssertion, fc.constantFrom(ASSERTION_TYPE, 'x')), async ([assertion, type]) =>
      expectRefused(
        'POST',
        '/oauth/token',
        formCase({}, {
          grant_type: 'client_credentials',
          client_id: 'agent-jwt',
          client_assertion_type: type,
          client_assertion: await assertion,
          authorization_details: JSON.stringify([docsManifest().grants[0]]),
        }),
      ),
    )
  })

  it('refuses an authenticated client every bad parameter: details, ttl, grant type, DPoP proof, body', async () => {
    const authenticated = { authorization: VALID_AUTH }
    await fuzz(
      '/oauth/token (bad parameters)',
      150,
      fc.oneof(
        fc.tuple(extras, badDetails).map(([more, details]) =>
          formCase(authenticated, { ...more, grant_type: 'client_credentials', authorization_details: details }),
        ),
        badTtl.map((ttl) => formCase(authenticated, { grant_type: 'client_credentials', authorization_details: VALID_DETAILS, ttl })),
        hostileText(60)
          .filter((g) => g !== 'client_credentials' && g !== CIBA)
          .map((g) => formCase(authenticated, { grant_type: g, authorization_details: VALID_DETAILS })),
        hostileText(120).map((id) => formCase(authenticated, { grant_type: CIBA, auth_req_id: id })),
        headerText(400).map((proof) =>
          formCase({ ...authenticated, dpop: proof }, { grant_type: 'client_credentials', authorization_details: VALID_DETAILS }),
        ),
        fc.tuple(hostileText(300), fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', '')).map(
          ([body, type]) => ({ headers: { ...authenticated, 'content-type': type }, body }),
        ),
      ),
      (c) => expectRefused('POST', '/oauth/token', c),
    )
  })
})

describe('fuzz: POST /v1/tokens', () => {
  it('refuses every malformed or disallowed manifest, as JSON or YAML', async () => {
    await fuzz(
      '/v1/tokens (bad manifests)',
      150,
      fc.tuple(
        fc.oneof(
          hostileText(400),
          hostileJson().map((v) => JSON.stringify(v) ?? ''),
          badDetails.map((d) => {
            let grants: unknown = d
            try {
              grants = JSON.parse(d)
            } catch {
              // not JSON: send the text as the grants value
            }
            return JSON.stringify({ ...docsManifest(), grants })
          }),
          badTtl.map((ttl) => JSON.stringify(docsManifest({ ttl }))),
        ),
        fc.constantFrom('application/json', 'application/yaml', 'text/yaml', 'text/plain', 'application/xml', ''),
        fc.oneof(fc.constant({ authorization: VALID_AUTH }), badAuth),
      ),
      ([body, type, auth]) => expectRefused('POST', '/v1/tokens', { headers: { ...auth, 'content-type': type }, body }),
    )
  })
})

/** The live token with one character changed (never a segment's last one, whose low bits may not count). */
const mutatedToken = fc
  .tuple(fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'))
  .map(([n, ch]) => {
    const last = liveToken.length - 1
    const positions = [...liveToken].flatMap((c, i) => (c !== '.' && liveToken[i + 1] !== '.' && i !== last ? [i] : []))
    const i = positions[n % positions.length]!
    const replacement = liveToken[i] === ch ? (ch === 'A' ? 'B' : 'A') : ch
    return `${liveToken.slice(0, i)}${replacement}${liveToken.slice(i + 1)}`
  })

describe('fuzz: POST /oauth/introspect and /oauth/revoke', () => {
  const tokens = fc.oneof(hostileText(300), mutatedToken, fc.string({ maxLength: 20_000, minLength: 10_000 }))
  const hints = fc.option(fc.oneof(hostileText(30), fc.constantFrom('access_token', 'refresh_token')), { nil: undefined })

  it('answers {active:false} for anything but the live token, and never disturbs it', async () => {
    await fuzz('/oauth/introspect', 100, fc.tuple(tokens, hints), async ([token, hint]) => {
      const params: Record<string, string> = { token, ...(hint === undefined ? {} : { token_type_hint: hint }) }
      const res = await broker.call('POST', '/oauth/introspect', { ...form(params), basic: A })
      const text = await res.text()
      expect(res.status === 200 || (res.status >= 400 && res.status < 500), text).toBe(true)
      if (res.status === 200) expect(JSON.parse(text)).toEqual({ active: false })
    })
    await fuzz('/oauth/introspect (bad client authentication)', 40, fc.tuple(badAuth, fc.constant(liveToken)), ([headers, token]) =>
      expectRefused('POST', '/oauth/introspect', formCase(headers, { token })),
    )
    const res = await broker.call('POST', '/oauth/introspect', { ...form({ token: liveToken }), basic: A })
    expect((await res.json()).active).toBe(true)
  })

  it('revokes nothing for a malformed or altered token, nor for an unauthenticated caller', async () => {
    await fuzz('/oauth/revoke', 100, fc.tuple(tokens, hints), async ([token, hint]) => {
      const before = await storeSnapshot()
      const params: Record<string, string> = { token, ...(hint === undefined ? {} : { token_type_hint: hint }) }
      const res = await broker.call('POST', '/oauth/revoke', { ...form(params), basic: A })
      expect(res.status === 200 || (res.status >= 400 && res.status < 500), await res.text()).toBe(true)
      expect(await storeSnapshot()).toBe(before)
    })
    await fuzz('/oauth/revoke (bad client authentication)', 40, fc.tuple(badAuth, fc.constant(liveToken)), ([headers, token]) =>
      expectRefused('POST', '/oauth/revoke', formCase(headers, { token })),
    )
    const state = await broker.store.grants.getGrant('agent-a', liveGrantId)
    expect(state.state).toBe('live')
  })
})
