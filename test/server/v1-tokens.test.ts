import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  docsManifest,
  ISSUER,
  json,
  makeTestBroker,
  SECRETS,
  testPolicyText,
  type TestBroker,
} from '../helpers/broker.js'
import { seedApproverKey } from '../helpers/approver-key.js'
import { dpopKey, dpopProof } from '../helpers/dpop.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

async function verify(token: string) {
  const jwks = await (await broker.call('GET', '/.well-known/jwks.json')).json()
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    currentDate: new Date(broker.clock()),
  })
}

describe('POST /v1/tokens', () => {
  it('exchanges a JSON manifest for an RFC 9068 token carrying exactly its grants', async () => {
    const manifest = docsManifest()
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'repo:read repo:write' })
    expect(body.authorization_details).toEqual(manifest.grants)

    const { payload, protectedHeader } = await verify(body.access_token)
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt' })
    expect(protectedHeader.kid).toBeTypeOf('string')
    expect(payload).toMatchObject({
      iss: ISSUER,
      sub: 'agent-a',
      client_id: 'agent-a',
      aud: 'https://git.example.com/acme/app',
      scope: 'repo:read repo:write',
      jti: body.grant_id,
      task: manifest.task,
      authorization_details: manifest.grants,
    })
    // TTL = min(requested 10m, docs-write's 5m, global 1h)
    expect(payload.exp! - payload.iat!).toBe(300)
    expect(payload.approval).toBeUndefined()
    expect(payload.cnf).toBeUndefined()
  })

  it('accepts the same manifest as YAML and hashes it identically', async () => {
    const yaml = `task: { id: JIRA-4711, purpose: "Organize the project documentation", requested_by: carol@example.com }
ttl: 10m
grants:
  - { type: repo, actions: [read],  locations: [https://git.example.com/acme/app], identifier: "docs/**" }
  - { type: repo, actions: [write], locations: [https://git.example.com/acme/app], identifier: "docs/**" }
`
    const fromYaml = await broker.call('POST', '/v1/tokens', {
      headers: { 'content-type': 'application/yaml' },
      body: yaml,
      basic: A,
    })
    expect(fromYaml.status).toBe(200)
    const fromJson = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const [y, j] = await Promise.all([fromYaml.json(), fromJson.json()])
    const stateY = await broker.store.grants.getGrant('agent-a', y.grant_id)
    const stateJ = await broker.store.grants.getGrant('agent-a', j.grant_id)
    if (stateY.state !== 'live' || stateJ.state !== 'live') throw new Error('grants must be live')
    expect(stateY.grant.manifestSha256).toMatch(/^[0-9a-f]{64}$/)
    expect(stateY.grant.manifestSha256).toBe(stateJ.grant.manifestSha256)
  })

  it('records the grant before answering: the jti is live in the store', async () => {
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const { grant_id, access_token } = await res.json()
    const state = await broker.store.grants.getGrant('agent-a', grant_id)
    expect(state.state).toBe('live')
    expect(decodeProtectedHeader(access_token).typ).toBe('at+jwt')
  })

  it('clamps a ttl above the rule maximum to the rule maximum', async () => {
    const res = await broker.call('POST', '/v1/tokens', {
      ...json(docsManifest({ ttl: '1h', grants: [docsManifest().grants[0]] })),
      basic: A,
    })
    expect(res.status).toBe(200)
    expect((await res.json()).expires_in).toBe(15 * 60)
  })

  it('uses the default ttl when the manifest names none, within the rule maximum', async () => {
    const { ttl: _ttl, ...rest } = docsManifest({ grants: [docsManifest().grants[0]] })
    const res = await broker.call('POST', '/v1/tokens', { ...json(rest), basic: A })
    expect((await res.json()).expires_in).toBe(900)
  })

  it('refuses the whole request when one grant is outside policy, naming that grant', async () => {
    const manifest = docsManifest()
    manifest.grants.push({
      type: 'repo',
      actions: ['write'],
      locations: ['https://git.example.com/acme/app'],
      identifier: 'src/**',
    })
    const before = await broker.store.grants.countLiveGrants('agent-a')
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    expect(res.status).toBe(403)
    const body = await res.json()
    expect(body.error).toBe('access_denied')
    expect(body.error_description).toContain('grants[2]')
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(before)
  })

  it('refuses a grant whose identifier pattern is wider than the rule allows', async () => {
    const res = await broker.call('POST', '/v1/tokens', {
      ...json(docsManifest({ grants: [{ ...docsManifest().grants[0], identifier: '**' }] })),
      basic: A,
    })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toContain('grants[0]')
  })

  it('refuses a client using a rule it is not assigned', async () => {
    const res = await broker.call('POST', '/v1/tokens', {
      ...json(docsManifest({ grants: [docsManifest().grants[1]] })),
      basic: ['agent-b', SECRETS['agent-b']],
    })
    expect(res.status).toBe(403)
    expect((await res.json()).error).toBe('access_denied')
  })

  it('answers 202 with a CIBA handle and the approval page for a grant that needs human approval', async () => {
    // The deploy rule also requires a DPoP-bound token, so the request carries a proof (RFC 9449)
    // with the broker's nonce; without one it is refused for that first (test/dpop/).
    await seedApproverKey(broker.approvals, 'alice@example.com', 'release-managers')
    await seedApproverKey(broker.approvals, 'bob@example.com', 'release-managers')
    const key = await dpopKey()
    const request = async (nonce?: string) =>
      broker.call('POST', '/v1/tokens', {
        body: JSON.stringify({
          task: { id: 'DEPLOY-1', requested_by: 'carol@example.com' },
          grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }],
        }),
        headers: {
          'content-type': 'application/json',
          dpop: await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/v1/tokens`, clock: broker.clock, ...(nonce ? { nonce } : {}) }),
        },
        basic: A,
      })
    const res = await request((await request()).headers.get('dpop-nonce')!)
    expect(res.status).toBe(202)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body.auth_req_id).toMatch(/^[\w-]+\.[\w-]{43}$/)
    expect(body.approval_uri).toBe(`${ISSUER}/approve/${body.auth_req_id.split('.')[0]}`)
    expect(body).toMatchObject({ expires_in: 300, interval: 5 })
    expect(body.access_token).toBeUndefined()
  })

  it('names the field at fault for a wrongly typed manifest', async () => {
    const manifest = docsManifest()
    ;(manifest.grants[1] as Record<string, unknown>).actions = 'write'
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_request')
    expect(body.error_description).toContain('grants[1].actions')
  })

  it.each([
    ['malformed JSON', 'application/json', '{"task": {"id": "x"}, "grants": ['],
    ['malformed YAML', 'application/yaml', 'task: {id: x\ngrants: [\n'],
    ['a YAML alias bomb', 'application/yaml', 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n'],
    ['a JSON array', 'application/json', '[]'],
    ['an empty body', 'application/json', ''],
    ['an unknown media type', 'text/csv', 'task,id'],
  ])('answers 400 to %s and records nothing', async (_name, type, body) => {
    const before = await broker.store.grants.countLiveGrants('agent-a')
    const res = await broker.call('POST', '/v1/tokens', { headers: { 'content-type': type }, body, basic: A })
    expect(res.status).toBe(400)
    const err = await res.json()
    expect(err.error).toBe('invalid_request')
    expect(err.error_description.length).toBeGreaterThan(5)
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(before)
  })

  it('refuses more than 50 grants', async () => {
    const grants = Array.from({ length: 51 }, () => docsManifest().grants[0])
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ grants })), basic: A })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/50/)
  })

  it('answers 413 to a body over 64 KiB, with or without Content-Length', async () => {
    const big = JSON.stringify(docsManifest({ task: { id: 'x', purpose: 'p'.repeat(70_000) } }))
    const sized = await broker.call('POST', '/v1/tokens', {
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      body: big,
      basic: A,
    })
    expect(sized.status).toBe(413)
    expect((await sized.json()).error).toBe('invalid_request')
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(4096)))
        controller.close()
      },
    })
    const chunked = await broker.call('POST', '/v1/tokens', {
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
      basic: A,
    } as RequestInit)
    expect(chunked.status).toBe(413)
  })

  it('enforces the client live-grant quota with 429 and issues nothing beyond it', async () => {
    const quota = await makeTestBroker({ policyText: await testPolicyText({ maxLiveGrants: 5 }) })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 7; i++) {
        const res = await quota.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
        statuses.push(res.status)
        if (res.status === 429) expect((await res.json()).error).toBe('quota_exceeded')
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])
      expect(await quota.store.grants.countLiveGrants('agent-a')).toBe(5)
      // Expired grants free their slots.
      quota.clock.advance(301_000)
      const again = await quota.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
      expect(again.status).toBe(200)
    } finally {
      await quota.close()
    }
  })
})

describe('type-specific grants', () => {
  it('refuses a malformed aws grant at issuance, naming the field, and records nothing', async () => {
    const b = await makeTestBroker()
    try {
      const before = await b.store.grants.countLiveGrants('agent-a')
      for (const [grant, field] of [
        [{ type: 'aws', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::docs/*'] }, 'authorization_details[0].role_arn'],
        [
          { type: 'aws', role_arn: 'arn:aws:iam::123456789012:role/docs', locations: ['arn:aws:iam::123456789012:role/other'], actions: ['s3:GetObject'], resources: ['arn:aws:s3:::docs/*'] },
          'authorization_details[0].locations',
        ],
      ] as const) {
        const res = await b.call('POST', '/v1/tokens', { ...json({ task: { id: 'AWS-1' }, grants: [grant] }), basic: A })
        expect(res.status).toBe(400)
        const body = await res.json()
        expect(body.error).toBe('invalid_authorization_details')
        expect(body.error_description).toContain(field)
      }
      expect(await b.store.grants.countLiveGrants('agent-a')).toBe(before)
    } finally {
      await b.close()
    }
  })
})
