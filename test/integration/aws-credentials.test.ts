import { sign } from 'node:crypto'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import { manualClock } from '../../src/clock.js'
import { createMemorySessionRecord, createAwsClients, vendAwsCredentials } from '../../src/credentials/aws/index.js'
import type { Grant } from '../../src/grants/grant.js'
import { createMemoryStore } from '../../src/open-store.js'
import { makeTestBroker } from '../helpers/broker.js'
import { dpopKey, dpopProof } from '../helpers/dpop.js'
import { startMoto, type PrivateMoto } from '../helpers/moto.js'
import { freePort } from '../helpers/redis.js'
import { type AwsTestBroker, createRole, EXTERNAL_ID, makeAwsBroker } from '../credentials/aws/aws-broker.js'
import { awsDetail, OTHER_ROLE, ROLE } from '../credentials/aws/fixtures.js'
import { testKeys } from '../audit/helpers.js'

const URL_AWS = 'https://writ.test/v1/credentials/aws'
const repo = { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'] }

let moto: PrivateMoto
let broker: AwsTestBroker

beforeAll(async () => {
  moto = await startMoto()
  // OTHER_ROLE is allowed by the policy but not configured for vending.
  broker = await makeAwsBroker(moto, { policyRoles: [ROLE, OTHER_ROLE] })
  await createRole(broker.iam, 'writ-docs')
  await createRole(broker.iam, 'writ-deploy')
})
afterAll(async () => {
  await broker?.close()
  await moto?.stop()
})
beforeEach(() => moto.clearRequests())

describe('POST /v1/credentials/aws', () => {
  it('assumes the role with the compiled policy, duration, session name, source identity, tags and external id', async () => {
    const { access_token, grant_id } = await broker.token([repo, awsDetail({ actions: ['s3:GetObject'] }), awsDetail({ actions: ['s3:PutObject'], resources: ['arn:aws:s3:::acme-docs/drafts/*'] })])
    const grantExpiry = Math.floor(broker.clock() / 1000) + 1800
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body).toMatchObject({
      Version: 1,
      role_arn: ROLE,
      session_name: grant_id,
      grant_id,
      source_identity: 'agent-a',
      duration_seconds: 1800,
      assumed_role_arn: `arn:aws:sts::123456789012:assumed-role/writ-docs/${grant_id}`,
      permissions_expire_at: new Date(grantExpiry * 1000).toISOString().replace('.000Z', 'Z'),
    })

    // What STS received, from moto's own request log.
    const [call, ...others] = moto.requests('AssumeRole')
    expect(others).toEqual([])
    expect(call!.service).toBe('sts')
    const p = call!.params
    expect(p).toMatchObject({
      RoleArn: ROLE,
      RoleSessionName: grant_id,
      DurationSeconds: '1800',
      SourceIdentity: 'agent-a',
      ExternalId: EXTERNAL_ID,
      'Tags.member.1.Key': 'writ:task',
      'Tags.member.1.Value': 'JIRA-4711',
      'Tags.member.2.Key': 'writ:client',
      'Tags.member.2.Value': 'agent-a',
      'Tags.member.3.Key': 'writ:grant',
      'Tags.member.3.Value': grant_id,
    })
    const until = body.permissions_expire_at
    expect(JSON.parse(p.Policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::acme-docs', 'arn:aws:s3:::acme-docs/*'], Condition: { DateLessThan: { 'aws:CurrentTime': until } } },
        { Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::acme-docs/drafts/*'], Condition: { DateLessThan: { 'aws:CurrentTime': until } } },
      ],
    })

    // The credentials work, and AWS sees the session under the grant's name.
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: moto.endpoint,
      credentials: { accessKeyId: body.AccessKeyId, secretAccessKey: body.SecretAccessKey, sessionToken: body.SessionToken },
    })
    const who = await sts.send(new GetCallerIdentityCommand({}))
    sts.destroy()
    expect(who.Arn).toBe(`arn:aws:sts::123456789012:assumed-role/writ-docs/${grant_id}`)
    expect(who.UserId).toMatch(new RegExp(`^AROA[A-Z0-9]+:${grant_id}$`))
  })

  it("raises a short grant's session to AWS's 900 s minimum, and honours a shorter duration_seconds", async () => {
    const short = await broker.token([awsDetail()], { ttl: '5m' })
    expect((await (await broker.credentials(short.access_token, { role_arn: ROLE })).json()).duration_seconds).toBe(900)
    const long = await broker.token([awsDetail()], { ttl: '40m' })
    const res = await broker.credentials(long.access_token, { role_arn: ROLE, duration_seconds: 1000 })
    expect((await res.json()).duration_seconds).toBe(1000)
    expect(moto.requests('AssumeRole').map((r) => r.params.DurationSeconds)).toEqual(['900', '1000'])
  })

  it('refuses a token whose grants do not cover the role (403), without calling STS', async () => {
    const { access_token } = await broker.token([repo])
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ error: 'access_denied', error_description: expect.stringContaining('role_arn') })
    const other = await broker.token([awsDetail({}, OTHER_ROLE)])
    expect((await broker.credentials(other.access_token, { role_arn: ROLE })).status).toBe(403)
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a token signed with the real key that reuses a live grant id with an aws grant added (401), without calling STS', async () => {
    const { access_token } = await broker.token([repo])
    // What a stolen signing key allows: the live grant's claims, widened, signed under its kid.
    const claims = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString('utf8'))
    claims.authorization_details = [...claims.authorization_details, awsDetail({ actions: ['s3:*'], resources: ['*'] })]
    const key = broker.keys.signingKey()
    const input = `${key.encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
    const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    const res = await broker.credentials(`${input}.${signature.toString('base64url')}`, { role_arn: ROLE })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('invalid_token')
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a role the policy allows but the broker is not configured to vend (403)', async () => {
    const { access_token } = await broker.token([awsDetail({}, OTHER_ROLE)])
    const res = await broker.credentials(access_token, { role_arn: OTHER_ROLE })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toContain('not a role this broker vends sessions for')
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a revoked token (401), without calling STS', async () => {
    const { access_token } = await broker.token([awsDetail()])
    const revoke = await broker.call('POST', '/oauth/revoke', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: access_token }).toString(),
      basic: ['agent-a', 'agent-a-secret'],
    })
    expect(revoke.status).toBe(200)
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('invalid_token')
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses an expired token (401), without calling STS', async () => {
    const { access_token } = await broker.token([awsDetail()], { ttl: '5m' })
    broker.clock.advance(5 * 60_000 + 1000)
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(401)
    expect((await res.json()).error).toBe('invalid_token')
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it.each([
    ['no Authorization header', undefined],
    ['Basic credentials', 'Basic YWdlbnQtYTphZ2VudC1hLXNlY3JldA=='],
    ['a forged token', 'Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJqdGkiOiJ4In0.AAAA'],
  ])('refuses %s (401)', async (_what, authorization) => {
    const res = await broker.call('POST', '/v1/credentials/aws', {
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ role_arn: ROLE }),
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it.each<[string, unknown, string]>([
    ['a missing role_arn', {}, 'role_arn: required'],
    ['a role_arn that is no role ARN', { role_arn: 'arn:aws:s3:::bucket' }, 'role_arn: expected an IAM role ARN'],
    ['a duration under 900', { role_arn: ROLE, duration_seconds: 300 }, 'duration_seconds: must be at least 900'],
    ['a fractional duration', { role_arn: ROLE, duration_seconds: 1000.5 }, 'duration_seconds'],
    ['an unknown field', { role_arn: ROLE, policy: '*' }, 'policy'],
    ['a body that is not an object', [ROLE], 'body: expected a JSON object'],
  ])('refuses %s (400, naming the field)', async (_what, body, message) => {
    const { access_token } = await broker.token([awsDetail()])
    const res = await broker.credentials(access_token, body)
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toContain(message)
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a body that is not JSON, or not sent as JSON (400)', async () => {
    const { access_token } = await broker.token([awsDetail()])
    const bad = await broker.call('POST', '/v1/credentials/aws', {
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: '{"role_arn":',
    })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error_description).toContain('not valid JSON')
    const form = await broker.call('POST', '/v1/credentials/aws', {
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `role_arn=${ROLE}`,
    })
    expect(form.status).toBe(400)
    expect((await form.json()).error_description).toContain('content-type must be application/json')
  })

  it('checks AWS limits before calling STS: a task id AWS refuses as a tag value is a 400 naming it', async () => {
    const { access_token } = await broker.token([awsDetail()], { taskId: 'JIRA#4711' })
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toContain('Tags["writ:task"] (task.id): value "JIRA#4711"')
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it("checks AWS limits before calling STS: a session policy over 2,048 characters is a 400", async () => {
    const resources = Array.from({ length: 60 }, (_, i) => `arn:aws:s3:::acme-docs/team-${i}/reports/*`)
    const { access_token } = await broker.token([awsDetail({ resources })])
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/^Policy \(the session policy compiled from the grants\): \d+ characters, more than AWS's 2048/)
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a malformed aws grant when the token is asked for, naming it (400, no token)', async () => {
    const err = await broker.token([repo, awsDetail({ resources: ['s3://acme-docs'] })]).catch((e: Error) => e)
    expect(String(err)).toContain('token request failed: 400')
    expect(String(err)).toContain('invalid_authorization_details')
    expect(String(err)).toContain('authorization_details[1].resources[0]')
    expect(moto.requests('AssumeRole')).toEqual([])
  })
})

describe('POST /v1/credentials/aws with a DPoP-bound token', () => {
  async function boundToken() {
    const key = await dpopKey()
    const proof = await dpopProof(key, { htm: 'POST', htu: 'https://writ.test/v1/tokens', clock: broker.clock })
    const { access_token } = await broker.token([awsDetail()], { headers: { dpop: proof } })
    return { key, token: access_token }
  }
  const dpopCall = (token: string, proof: string | undefined) =>
    broker.call('POST', '/v1/credentials/aws', {
      headers: { authorization: `DPoP ${token}`, 'content-type': 'application/json', ...(proof ? { dpop: proof } : {}) },
      body: JSON.stringify({ role_arn: ROLE }),
    })

  it('vends with a proof by the bound key, made for this URL and token', async () => {
    const { key, token } = await boundToken()
    const proof = await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock })
    const res = await dpopCall(token, proof)
    expect(res.status).toBe(200)
    // The same proof again is a replay.
    const replay = await dpopCall(token, proof)
    expect(replay.status).toBe(401)
    expect((await replay.json()).error).toBe('invalid_dpop_proof')
  })

  it('refuses the bound token presented as a bearer token', async () => {
    const { token } = await boundToken()
    const res = await broker.credentials(token, { role_arn: ROLE })
    expect(res.status).toBe(401)
    expect((await res.json()).error_description).toContain('DPoP-bound')
  })

  it('refuses a missing proof, a proof by another key, and proofs for another URL or token', async () => {
    const { key, token } = await boundToken()
    const other = await dpopKey()
    const proofs = [
      undefined,
      await dpopProof(other, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock }),
      await dpopProof(key, { htm: 'POST', htu: 'https://writ.test/v1/tokens', accessToken: token, clock: broker.clock }),
      await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: 'another-token', clock: broker.clock }),
      await dpopProof(key, { htm: 'POST', htu: URL_AWS, clock: broker.clock }),
    ]
    for (const proof of proofs) {
      const res = await dpopCall(token, proof)
      expect(res.status).toBe(401)
      expect((await res.json()).error).toBe('invalid_dpop_proof')
    }
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a bearer token presented with the DPoP scheme', async () => {
    const { access_token } = await broker.token([awsDetail()])
    const res = await dpopCall(access_token, undefined)
    expect(res.status).toBe(401)
    expect((await res.json()).error_description).toContain('not DPoP-bound')
  })
})

describe('AWS credential vending, operation level', () => {
  const clock = manualClock(Date.now())
  const grantFor = (overrides: Partial<Grant> = {}): Grant => {
    const now = Math.floor(clock() / 1000)
    return {
      id: `g${Math.random().toString(36).slice(2, 12)}`,
      clientId: 'agent-a',
      task: { id: 'T-1' },
      manifestSha256: '00'.repeat(32),
      authorizationDetails: [awsDetail()],
      ruleIds: ['aws-s3'],
      issuedAt: now,
      expiresAt: now + 1200,
      ...overrides,
    }
  }
  const settings = { roles: [{ arn: ROLE, maxSessionSeconds: 3600 }], roleChaining: false }

  it('uses the first approving human as SourceIdentity', async () => {
    const store = createMemoryStore({ clock })
    const grant = grantFor({
      approval: { id: 'ap1', manifestSha256: '00'.repeat(32), approvers: [{ sub: 'carol@example.com', aaguid: '00000000-0000-0000-0000-000000000000', credentialId: 'AA', at: 1 }] },
    })
    await store.grants.createGrant(grant)
    const clients = createAwsClients({ region: 'us-east-1', endpoint: moto.endpoint, credentials: moto.credentials })
    const out = await vendAwsCredentials(
      { sts: clients.sts, record: createMemorySessionRecord({ clock }), store: store.grants, settings, clock },
      { grant, roleArn: ROLE },
    )
    clients.destroy()
    expect(out.source_identity).toBe('carol@example.com')
    expect(moto.requests('AssumeRole').at(-1)!.params.SourceIdentity).toBe('carol@example.com')
  })

  it('caps the session at one hour when the broker runs on a role (role chaining)', async () => {
    const store = createMemoryStore({ clock })
    const now = Math.floor(clock() / 1000)
    const grant = grantFor({ expiresAt: now + 7200 })
    await store.grants.createGrant(grant)
    const clients = createAwsClients({ region: 'us-east-1', endpoint: moto.endpoint, credentials: moto.credentials })
    const deps = { sts: clients.sts, record: createMemorySessionRecord({ clock }), store: store.grants, clock }
    const long = { roles: [{ arn: ROLE, maxSessionSeconds: 43_200 }] }
    const chained = await vendAwsCredentials({ ...deps, settings: { ...long, roleChaining: true } }, { grant, roleArn: ROLE })
    const direct = await vendAwsCredentials({ ...deps, settings: { ...long, roleChaining: false } }, { grant, roleArn: ROLE })
    clients.destroy()
    expect([chained.duration_seconds, direct.duration_seconds]).toEqual([3600, 7200])
  })

  it('records the session before STS is called, and returns nothing when the grant is revoked meanwhile', async () => {
    const store = createMemoryStore({ clock })
    const record = createMemorySessionRecord({ clock })
    const grant = grantFor()
    await store.grants.createGrant(grant)
    const clients = createAwsClients({ region: 'us-east-1', endpoint: moto.endpoint, credentials: moto.credentials })
    let recordedBeforeCall = false
    // The revocation lands while STS is working on the request.
    clients.sts.middlewareStack.add(
      (next) => async (args) => {
        recordedBeforeCall = (await record.sessionsOf([grant.id])).length === 1
        await store.grants.revokeGrant(grant.clientId, grant.id, { by: 'admin', reason: 'test', at: Math.floor(clock() / 1000) })
        return next(args)
      },
      { step: 'finalizeRequest', name: 'revokeDuringCall' },
    )
    const attempt = vendAwsCredentials({ sts: clients.sts, record, store: store.grants, settings, clock }, { grant, roleArn: ROLE })
    await expect(attempt).rejects.toMatchObject({ code: 'invalid_token', status: 401 })
    clients.destroy()
    expect(recordedBeforeCall).toBe(true)
    expect(moto.requests('AssumeRole').at(-1)!.params.RoleSessionName).toBe(grant.id)
  })
})

describe('the audit trail of AWS credential vending', () => {
  it('records credential.vended, naming client, grant, task, role, session and expiry, before the credentials leave', async () => {
    const { access_token, grant_id } = await broker.token([awsDetail()], { taskId: 'AUDIT-AWS' })
    const res = await broker.credentials(access_token, { role_arn: ROLE })
    expect(res.status).toBe(200)
    const body = await res.json()
    const vended = (await broker.audit.log!.find({ grantId: grant_id })).filter((e) => e.type === 'credential.vended')
    expect(vended).toEqual([
      expect.objectContaining({
        actor: 'client:agent-a',
        client: 'agent-a',
        grant: grant_id,
        task: 'AUDIT-AWS',
        provider: 'aws',
        resource: ROLE,
        session: grant_id,
        expires_at: Math.floor(Date.parse(body.Expiration) / 1000),
        detail: { assumed_role_arn: body.assumed_role_arn, source_identity: 'agent-a', duration_seconds: body.duration_seconds },
      }),
    ])
    // The grant's story tells it after the grant was issued.
    const story = (await broker.audit.log!.find({ taskId: 'AUDIT-AWS' })).map((e) => e.type)
    expect(story).toEqual(['grant.issued', 'credential.vended'])
  })

  it('returns no credentials (503) when the audit log cannot be written', async () => {
    const clock = manualClock(Date.now())
    const log = createMemoryAuditLog({ clock, issuer: 'https://writ.test', signer: await testKeys(clock) })
    const down = await makeAwsBroker(moto, { clock, auditLog: log })
    try {
      const { access_token } = await down.token([awsDetail()])
      await log.close()
      const res = await down.credentials(access_token, { role_arn: ROLE })
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('2')
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({ error: 'temporarily_unavailable', error_description: 'the audit log is unavailable; retry shortly' })
      expect(text).not.toMatch(/AccessKeyId|SecretAccessKey|SessionToken/)
    } finally {
      await down.close()
    }
  })
})

describe('AWS credential vending when STS is unreachable', () => {
  it('answers 503 temporarily_unavailable and returns no credentials', async () => {
    const clock = manualClock(Date.now())
    const store = createMemoryStore({ clock })
    const now = Math.floor(clock() / 1000)
    const grant: Grant = {
      id: 'unreachable-sts-grant',
      clientId: 'agent-a',
      task: { id: 'T-1' },
      manifestSha256: '00'.repeat(32),
      authorizationDetails: [awsDetail()],
      ruleIds: ['aws-s3'],
      issuedAt: now,
      expiresAt: now + 1200,
    }
    await store.grants.createGrant(grant)
    const closed = `http://127.0.0.1:${await freePort()}`
    const clients = createAwsClients({ region: 'us-east-1', endpoint: closed, credentials: moto.credentials })
    const settings = { roles: [{ arn: ROLE, maxSessionSeconds: 3600 }], roleChaining: false }
    const attempt = vendAwsCredentials(
      { sts: clients.sts, record: createMemorySessionRecord({ clock }), store: store.grants, settings, clock },
      { grant, roleArn: ROLE },
    )
    await expect(attempt).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfterSeconds: 2 })
    clients.destroy()
  })
})

describe('POST /v1/credentials/aws on a broker without aws configuration', () => {
  it('answers 404', async () => {
    const plain = await makeTestBroker()
    const res = await plain.call('POST', '/v1/credentials/aws', {
      headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
      body: JSON.stringify({ role_arn: ROLE }),
    })
    await plain.close()
    expect(res.status).toBe(404)
    expect((await res.json()).error_description).toContain('not configured')
  })
})
