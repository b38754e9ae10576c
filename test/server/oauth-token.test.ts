import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientKey, docsManifest, form, ISSUER, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const readGrant = docsManifest().grants[0]!
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

const ccParams = (extra: Record<string, string> = {}) => ({
  grant_type: 'client_credentials',
  task_id: 'JIRA-4711',
  authorization_details: JSON.stringify([readGrant]),
  ...extra,
})

async function assertion(claims: Record<string, unknown> = {}, audience = `${ISSUER}/oauth/token`) {
  const { privateKey } = await clientKey()
  const now = Math.floor(broker.clock() / 1000)
  return new SignJWT({ jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'agent-jwt-1' })
    .setIssuer('agent-jwt')
    .setSubject('agent-jwt')
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(privateKey)
}

const jwtParams = async (audience?: string) => ({
  ...ccParams(),
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: await assertion({}, audience),
})

describe('POST /oauth/token (client_credentials + authorization_details)', () => {
  it('issues a task-scoped token with client_secret_basic', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      ...form(ccParams({ task_purpose: 'docs', requested_by: 'carol@example.com', ttl: '90s' })),
      basic: A,
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 90, scope: 'repo:read' })
    expect(body.authorization_details).toEqual([readGrant])
  })

  it('issues with client_secret_post', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      ...form(ccParams({ client_id: 'agent-b', client_secret: SECRETS['agent-b'] })),
    })
    expect(res.status).toBe(200)
  })

  it('issues with private_key_jwt (RFC 7523)', async () => {
    const res = await broker.call('POST', '/oauth/token', form(await jwtParams()))
    expect(res.status).toBe(200)
  })

  it('refuses a replayed client assertion', async () => {
    const params = await jwtParams()
    expect((await broker.call('POST', '/oauth/token', form(params))).status).toBe(200)
    const replay = await broker.call('POST', '/oauth/token', form(params))
    expect(replay.status).toBe(401)
    expect((await replay.json()).error).toBe('invalid_client')
  })

  it('refuses a client assertion for another audience', async () => {
    const res = await broker.call('POST', '/oauth/token', form(await jwtParams('https://elsewhere.test')))
    expect(res.status).toBe(401)
  })

  it('answers invalid_client with 401 and WWW-Authenticate for a wrong secret', async () => {
    const res = await broker.call('POST', '/oauth/token', { ...form(ccParams()), basic: ['agent-a', 'wrong'] })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/)
    expect((await res.json()).error).toBe('invalid_client')
  })

  it('answers an unknown client exactly like a wrong secret', async () => {
    const wrong = await broker.call('POST', '/oauth/token', { ...form(ccParams()), basic: ['agent-a', 'nope'] })
    const unknown = await broker.call('POST', '/oauth/token', { ...form(ccParams()), basic: ['ghost', 'nope'] })
    expect(unknown.status).toBe(401)
    expect(await unknown.json()).toEqual(await wrong.json())
  })

  it('refuses a request with no client authentication', async () => {
    const res = await broker.call('POST', '/oauth/token', form(ccParams()))
    expect(res.status).toBe(401)
  })

  it('refuses a secret sent two ways at once', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      ...form(ccParams({ client_id: 'agent-a', client_secret: SECRETS['agent-a'] })),
      basic: A,
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toBe('invalid_request')
  })

  it.each([
    [{ grant_type: 'password' }, 'unsupported_grant_type', 'grant_type'],
    [{ scope: 'repo:read' }, 'invalid_scope', 'scope'],
    [{ authorization_details: '[{"type":"repo","actions":"read"}]' }, 'invalid_authorization_details', 'authorization_details[0].actions'],
    [{ authorization_details: 'not json' }, 'invalid_authorization_details', 'authorization_details'],
    [{ ttl: 'forever' }, 'invalid_request', 'ttl'],
    [{ task_id: '' }, 'invalid_request', 'task_id'],
  ])('rejects bad parameter %j with %s naming %s', async (extra, code, field) => {
    const res = await broker.call('POST', '/oauth/token', { ...form(ccParams(extra)), basic: A })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe(code)
    expect(body.error_description).toContain(field)
  })

  it('rejects a missing grant_type and a missing authorization_details', async () => {
    const { grant_type: _g, ...noGrantType } = ccParams()
    const a = await broker.call('POST', '/oauth/token', { ...form(noGrantType), basic: A })
    expect((await a.json()).error_description).toContain('grant_type')
    const { authorization_details: _d, ...noDetails } = ccParams()
    const b = await broker.call('POST', '/oauth/token', { ...form(noDetails), basic: A })
    expect((await b.json()).error_description).toContain('authorization_details')
  })

  it('rejects a repeated parameter', async () => {
    const body = new URLSearchParams(ccParams())
    body.append('task_id', 'OTHER-1')
    const res = await broker.call('POST', '/oauth/token', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      basic: A,
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toContain('task_id')
  })

  it('rejects a JSON body on the form endpoint', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ccParams()),
      basic: A,
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toContain('x-www-form-urlencoded')
  })
})
