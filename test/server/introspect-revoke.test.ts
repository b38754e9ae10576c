import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
/** A resource server: the policy lets it introspect every client's tokens (`introspect: any`). */
const RS: [string, string] = ['docs-service', SECRETS['docs-service']]
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

async function token(basic: [string, string] = A, grants = docsManifest().grants.slice(0, 1)) {
  const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ grants })), basic })
  expect(res.status).toBe(200)
  return (await res.json()) as { access_token: string; grant_id: string }
}

const introspect = async (t: string, basic: [string, string] = RS) =>
  (await broker.call('POST', '/oauth/introspect', { ...form({ token: t }), basic })).json()

describe('POST /oauth/introspect (RFC 7662)', () => {
  it('describes a live token', async () => {
    const { access_token, grant_id } = await token()
    const body = await introspect(access_token)
    expect(body).toMatchObject({ active: true, client_id: 'agent-a', jti: grant_id, token_type: 'Bearer', scope: 'repo:read' })
    expect(body.task.id).toBe('JIRA-4711')
  })

  it("tells a client nothing about another client's live token, not even that it is live", async () => {
    const { access_token } = await token(A)
    const probe = await broker.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: B })
    expect(probe.status).toBe(200)
    // Exactly what a dead or forged token gets (RFC 7662 §2.2): no claim, no hint.
    expect(await probe.text()).toBe('{"active":false}')
    // The token is live all the same: its owner and the resource server get the real answer.
    expect(await introspect(access_token, A)).toMatchObject({ active: true, client_id: 'agent-a' })
    expect(await introspect(access_token, RS)).toMatchObject({ active: true, client_id: 'agent-a' })
  })

  it('answers a client about its own token', async () => {
    const { access_token, grant_id } = await token(B)
    expect(await introspect(access_token, B)).toMatchObject({ active: true, client_id: 'agent-b', jti: grant_id })
    // Another client still learns nothing about it.
    expect(await introspect(access_token, A)).toEqual({ active: false })
  })

  it.each([
    ['garbage', 'not-a-token'],
    ['a JWT with a forged signature', 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJqdGkiOiJ4In0.AAAA'],
    ['an unsigned JWT', 'eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJqdGkiOiJ4IiwiY2xpZW50X2lkIjoiYWdlbnQtYSJ9.'],
  ])('answers only {active:false} for %s', async (_name, t) => {
    expect(await introspect(t)).toEqual({ active: false })
  })

  it('answers {active:false} once the token has expired', async () => {
    const { access_token } = await token()
    broker.clock.advance(16 * 60_000)
    expect(await introspect(access_token)).toEqual({ active: false })
  })

  it('requires client authentication', async () => {
    const res = await broker.call('POST', '/oauth/introspect', form({ token: 'x' }))
    expect(res.status).toBe(401)
  })

  it('requires the token parameter', async () => {
    const res = await broker.call('POST', '/oauth/introspect', { ...form({}), basic: B })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toContain('token')
  })
})

describe('POST /oauth/revoke (RFC 7009)', () => {
  it('revokes a token: introspection turns inactive at once and a tombstone stays', async () => {
    const { access_token, grant_id } = await token()
    const res = await broker.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: A })
    expect(res.status).toBe(200)
    expect(await introspect(access_token)).toEqual({ active: false })
    const state = await broker.store.grants.getGrant('agent-a', grant_id)
    expect(state).toMatchObject({ state: 'revoked', revocation: { by: 'client:agent-a' } })
  })

  it('answers 200 for an unknown or already revoked token', async () => {
    const { access_token } = await token()
    for (const t of [access_token, access_token, 'garbage']) {
      const res = await broker.call('POST', '/oauth/revoke', { ...form({ token: t }), basic: A })
      expect(res.status).toBe(200)
    }
  })

  it("never lets one client revoke another client's token, nor tells it whether that token is live", async () => {
    const { access_token } = await token(A)
    const live = await broker.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: B })
    // Answered as an invalid token is (RFC 7009 §2.2), and left alone.
    expect(live.status).toBe(200)
    expect((await introspect(access_token)).active).toBe(true)
    expect((await broker.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: A })).status).toBe(200)
    const dead = await broker.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: B })
    expect(dead.status).toBe(live.status)
    expect(await dead.text()).toBe(await live.text())
  })
})

describe('discovery', () => {
  it('publishes RFC 8414 metadata matching the issuer', async () => {
    const body = await (await broker.call('GET', '/.well-known/oauth-authorization-server')).json()
    expect(body.issuer).toBe('https://writ.test')
    expect(body.token_endpoint).toBe('https://writ.test/oauth/token')
    expect(body.authorization_details_types_supported).toEqual(['deploy', 'repo'])
    expect(body.token_endpoint_auth_methods_supported).toContain('private_key_jwt')
    expect(body.grant_types_supported).toEqual([
      'client_credentials',
      'urn:openid:params:grant-type:ciba',
      'authorization_code',
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ])
    expect(body.backchannel_authentication_endpoint).toBe('https://writ.test/oauth/bc-authorize')
    expect(body.backchannel_token_delivery_modes_supported).toEqual(['poll'])
  })

  it('publishes public keys only, with kid, alg and use', async () => {
    const body = await (await broker.call('GET', '/.well-known/jwks.json')).json()
    expect(body.keys.length).toBeGreaterThanOrEqual(2)
    for (const key of body.keys) {
      expect(key).toMatchObject({ use: 'sig', alg: 'ES256' })
      expect(key.d).toBeUndefined()
    }
  })

  it('serves health, readiness and the OpenAPI document', async () => {
    expect((await broker.call('GET', '/healthz')).status).toBe(200)
    expect(await (await broker.call('GET', '/readyz')).json()).toEqual({
      status: 'ready',
      store: 'memory',
      policy: { hash: broker.policy.latest().hash, source: 'file', since: expect.any(String) },
    })
    const doc = await broker.call('GET', '/openapi.yaml')
    expect(await doc.text()).toMatch(/^openapi: 3\.1/)
  })

  it('answers unknown routes with a JSON 404', async () => {
    const res = await broker.app.request('https://writ.test/nope')
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: string }).error).toBe('not_found')
  })
})
