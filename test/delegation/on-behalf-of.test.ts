import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oauth from 'oauth4webapi'
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose'
import { hashSecret } from '../../src/client-auth/index.js'
import { actorChain, createVerifier, delegationDepth } from '../../src/verifier/index.js'
import {
  A,
  B,
  ceremonyOptions,
  enrolCast,
  form,
  ISSUER,
  makeApprovalBroker,
  poll,
  SECRETS,
  submit,
  type ApprovalBroker,
  type Cast,
} from '../approvals/helpers.js'
import { OTHER_RP, RP, startOidcIssuer, type OidcIssuer } from './oidc-issuer.js'

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'
const JWT = 'urn:ietf:params:oauth:token-type:jwt'
const APP = 'https://git.example.com/acme/app'
const read = [{ type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/**' }]
const write = [{ type: 'repo', actions: ['write'], locations: [APP], identifier: 'docs/**' }]
const deploy = [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }]

let idp: OidcIssuer
/** Another provider: a real issuer, but not one the policy trusts. */
let stranger: OidcIssuer
let broker: ApprovalBroker
let cast: Cast

/**
 * agent-a may read docs for anyone, write docs only for a person in the `eng` group, and deploy
 * with one release manager's approval (not the requester's). People come from `idp` by email.
 */
async function policyText(): Promise<string> {
  const hash = await hashSecret(SECRETS['agent-a'])
  const hashB = await hashSecret(SECRETS['agent-b'])
  return `
version: 1
clients:
  - id: agent-a
    auth: client_secret
    secret_hash: "${hash}"
    rules: [docs-read, docs-write-eng, deploy-prod]
    delegate_to: { clients: [agent-b] }
  - { id: agent-b, auth: client_secret, secret_hash: "${hashB}" }
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com, carol@example.com]
  - id: dbas
    members: [dana@example.com, erin@example.com]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: docs-write-eng
    match: { type: repo, actions: [write], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 10m
    approval: none
    person: { claims: { groups: [eng] } }
  - id: deploy-prod
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 1, from: release-managers, forbid_self_approval: true }
issuers:
  - issuer: ${idp.issuer}
    jwks_uri: ${idp.jwksUri}
    audience: ${RP}
    algorithms: [ES256]
    subject_claim: email
`
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const RUN_PREFIX = `writ-test-obo-${randomBytes(6).toString('hex')}:`

beforeAll(async () => {
  idp = await startOidcIssuer()
  stranger = await startOidcIssuer()
})
afterAll(async () => {
  await idp?.close()
  await stranger?.close()
  const redis = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 500)
    if (found.length > 0) await redis.del(...found)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()
})

const aliceClaims = { email: 'alice@example.com', email_verified: true, groups: ['eng'] }
const aliceToken = (claims: Record<string, unknown> = aliceClaims) => idp.idToken(RP, 'alice-0001', claims)

/** oauth4webapi's generic token endpoint request, to the broker in process (responses OpenAPI-checked). */
const as: oauth.AuthorizationServer = { issuer: ISSUER, token_endpoint: `${ISSUER}/oauth/token` }
const client: oauth.Client = { client_id: A[0] }
const fetchImpl = (async (url: string, init: RequestInit) =>
  broker.call(init.method ?? 'GET', new URL(url).pathname, init)) as unknown as typeof fetch

function exchangeResponse(subjectToken: string, params: Record<string, string>, type = ID_TOKEN) {
  return oauth.genericTokenEndpointRequest(
    as,
    client,
    oauth.ClientSecretBasic(A[1]),
    TOKEN_EXCHANGE,
    { subject_token: subjectToken, subject_token_type: type, task_id: 'DOC-9', ...params },
    { [oauth.customFetch]: fetchImpl },
  )
}
async function exchange(subjectToken: string, params: Record<string, string>, type = ID_TOKEN) {
  return oauth.processGenericTokenEndpointResponse(as, client, await exchangeResponse(subjectToken, params, type))
}

const grantsOfAgent = async () => (await broker.store.grants.listGrants({ clientId: 'agent-a' })).map((g) => g.id)

/** An exchange that must be refused, leaving no grant: its status and RFC 6749 error. */
async function refused(subjectToken: string, params: Record<string, string> = { authorization_details: JSON.stringify(read) }) {
  const before = await grantsOfAgent()
  const res = await exchangeResponse(subjectToken, params)
  const body = (await res.json()) as { error: string; error_description?: string }
  expect(await grantsOfAgent()).toEqual(before)
  return { status: res.status, error: body.error, description: body.error_description ?? '' }
}

/** A JWT with the trusted issuer's claims, signed as told (not by the provider). */
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
const claimsFor = (aud: string = RP) => ({ iss: idp.issuer, sub: 'alice-0001', aud, iat: now(), exp: now() + 300, ...aliceClaims })

describe.each(['memory', 'redis'] as const)('on behalf of a person (%s store)', (kind) => {
  beforeAll(async () => {
    broker = await makeApprovalBroker({
      policyText: await policyText(),
      ...(kind === 'redis'
        ? {
            config: {
              store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: `${RUN_PREFIX}${kind}:` },
              keys: { source: 'store', kek: randomBytes(32).toString('base64') },
            },
          }
        : {}),
    })
    cast = await enrolCast(broker)
  })
  afterAll(async () => {
    await broker?.close()
  })

  describe('token exchange on behalf of a person (ID token from a trusted issuer)', () => {
    it('issues a token whose sub is the proven person, act the agent, requested_by the person', async () => {
      const subject = await aliceToken()
      const response = await exchange(subject, { authorization_details: JSON.stringify(read), ttl: '5m' })
      expect(response.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token')
      const claims = decodeJwt(response.access_token)
      expect(claims).toMatchObject({
        iss: ISSUER,
        sub: 'alice@example.com',
        client_id: 'agent-a',
        act: { sub: 'agent-a' },
        task: { id: 'DOC-9', requested_by: 'alice@example.com' },
        authorization_details: read,
      })
      // The audit log tells the exchange: the person, the issuer, the actor; and it is the person's story.
      await broker.audit.flush()
      const story = await broker.audit.log!.find({ approver: 'alice@example.com' })
      const issued = story.find((e) => e.type === 'grant.issued' && e.grant === claims.jti)
      expect(issued).toMatchObject({
        actor: 'client:agent-a',
        requested_by: 'alice@example.com',
        on_behalf_of: { iss: idp.issuer, sub: 'alice@example.com' },
      })
    })

    it('verifies with writ/verifier: the person as sub, the agent as the one actor', async () => {
      const response = await exchange(await aliceToken(), { authorization_details: JSON.stringify(read) })
      const verifier = createVerifier({
        issuer: ISSUER,
        audience: APP,
        jwksUri: `${ISSUER}/.well-known/jwks.json`,
        fetch: async (input, init) => broker.app.request(String(input), init),
        clock: broker.clock,
        liveness: { mode: 'none' },
      })
      const claims = await verifier.verify(response.access_token)
      expect(claims.sub).toBe('alice@example.com')
      expect(actorChain(claims)).toEqual(['agent-a'])
      expect(delegationDepth(claims)).toBe(1)
    })

    it('takes the jwt token type too', async () => {
      const response = await exchange(await aliceToken(), { authorization_details: JSON.stringify(read) }, JWT)
      expect(decodeJwt(response.access_token).sub).toBe('alice@example.com')
    })

    it('refuses a token signed with another key under the provider kid (forged)', async () => {
      const { privateKey } = await generateKeyPair('ES256')
      const { kid } = decodeProtectedHeader(await aliceToken())
      const forged = await new SignJWT(claimsFor()).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey)
      expect(await refused(forged)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/^subject_token: its signature does not verify/) })
    })

    it('refuses a token signed with a key the provider never published (unknown kid, refetched)', async () => {
      const { privateKey } = await generateKeyPair('ES256')
      const forged = await new SignJWT(claimsFor()).setProtectedHeader({ alg: 'ES256', kid: 'attacker-1' }).sign(privateKey)
      expect(await refused(forged)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/no key of .* JWKS matches/) })
    })

    it('refuses an expired ID token', async () => {
      const expired = await idp.idToken(RP, 'alice-0001', aliceClaims, now() - 600)
      expect(await refused(expired)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/^subject_token: expired/) })
    })

    it('refuses an ID token issued to another client (audience)', async () => {
      const other = await idp.idToken(OTHER_RP, 'alice-0001', aliceClaims)
      expect(await refused(other)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/audience is not writ-agents/) })
    })

    it('refuses an ID token of an issuer the policy does not trust', async () => {
      const foreign = await stranger.idToken(RP, 'alice-0001', aliceClaims)
      expect(await refused(foreign)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/issuer .* is not trusted/) })
    })

    it('refuses an unsigned token (alg none)', async () => {
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claimsFor())}.`
      expect(await refused(unsigned)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/unsigned \(alg none\)/) })
    })

    it('refuses an HMAC-signed token (HS256), even one with the trusted issuer', async () => {
      const hmac = await new SignJWT(claimsFor()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('writ-agents-secret-0123456789abcdef0123'))
      expect(await refused(hmac)).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/HMAC \(HS256\)/) })
    })

    it('refuses an address the provider has not verified', async () => {
      const unverified = await aliceToken({ ...aliceClaims, email_verified: false })
      expect(await refused(unverified)).toMatchObject({ status: 400, description: expect.stringMatching(/email_verified is not true/) })
    })

    it('refuses a requested_by from the caller: the requester is the proven person', async () => {
      const result = await refused(await aliceToken(), { authorization_details: JSON.stringify(read), requested_by: 'mallory@example.com' })
      expect(result).toMatchObject({ status: 400, error: 'invalid_request', description: expect.stringMatching(/^requested_by: not accepted/) })
    })

    it('lets a rule match on the person: docs write only for the eng group, never without a person', async () => {
      const ok = await exchange(await aliceToken(), { authorization_details: JSON.stringify(write) })
      expect(decodeJwt(ok.access_token).sub).toBe('alice@example.com')
      const notEng = await refused(await idp.idToken(RP, 'dave-0002', { email: 'dave@example.com', email_verified: true, groups: ['sales'] }), { authorization_details: JSON.stringify(write) })
      expect(notEng).toMatchObject({ status: 403, error: 'access_denied', description: expect.stringMatching(/acting for dave@example.com/) })
      // The same grant by client credentials, with no person, matches no rule.
      const res = await broker.call('POST', '/oauth/token', {
        ...form({ grant_type: 'client_credentials', task_id: 'DOC-9', authorization_details: JSON.stringify(write) }),
        basic: A,
      })
      expect(res.status).toBe(403)
      expect((await res.json()).error_description).toMatch(/not allowed for client agent-a by any rule/)
    })
  })

  describe('a token for a person, delegated on (writ access token as subject)', () => {
    it('keeps the person as sub, with the receiving agent outermost in act and the first agent inside', async () => {
      const parent = await exchange(await aliceToken(), { authorization_details: JSON.stringify(read) })
      const res = await oauth.genericTokenEndpointRequest(
        as,
        { client_id: B[0] },
        oauth.ClientSecretBasic(B[1]),
        TOKEN_EXCHANGE,
        {
          subject_token: parent.access_token,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          authorization_details: JSON.stringify([{ ...read[0], identifier: 'docs/guide/*' }]),
        },
        { [oauth.customFetch]: fetchImpl },
      )
      const child = await oauth.processGenericTokenEndpointResponse(as, { client_id: B[0] }, res)
      expect(decodeJwt(child.access_token)).toMatchObject({
        sub: 'alice@example.com',
        client_id: 'agent-b',
        act: { sub: 'agent-b', act: { sub: 'agent-a' } },
        task: { requested_by: 'alice@example.com' },
      })
    })
  })

  describe('forbid_self_approval compares the proven person with the approvers', () => {
    it('stops alice approving her own request; bob approves and the token is still alice\'s, with agent-a acting', async () => {
      const res = await exchangeResponse(await aliceToken(), { task_id: 'REL-7', authorization_details: JSON.stringify(deploy) })
      expect(res.status).toBe(202)
      const pending = (await res.json()) as { auth_req_id: string }
      const id = pending.auth_req_id.split('.')[0]!

      // alice is a release manager, but she is the requester the ID token proved.
      const aliceTry = await submit(broker, id, 'approve', cast.alice.assert(await ceremonyOptions(broker, id, 'approve'), { credentialId: cast.keys.alice }))
      expect(aliceTry.status).toBe(403)
      expect((await aliceTry.json()).error_description).toMatch(/may not approve it/)

      const bobApproves = await submit(broker, id, 'approve', cast.bob.assert(await ceremonyOptions(broker, id, 'approve'), { credentialId: cast.keys.bob }))
      expect(bobApproves.status).toBe(200)
      const collected = await poll(broker, A, pending.auth_req_id)
      expect(collected.status).toBe(200)
      const claims = decodeJwt((await collected.json()).access_token)
      expect(claims).toMatchObject({
        sub: 'alice@example.com',
        act: { sub: 'agent-a' },
        task: { id: 'REL-7', requested_by: 'alice@example.com' },
        approval: { approvers: [expect.objectContaining({ sub: 'bob@example.com' })] },
      })
    })
  })
})
