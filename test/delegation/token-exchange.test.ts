import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oauth from 'oauth4webapi'
import type { TestBroker } from '../helpers/broker.js'
import { dpopKey, dpopProof } from '../helpers/dpop.js'
import { ISSUER } from '../helpers/broker.js'
import { auditStory } from '../../src/audit/audit-story.js'
import { APP, claimsOf, details, makeDelegationBroker, oauthClient } from './helpers.js'

let broker: TestBroker
beforeAll(async () => {
  broker = await makeDelegationBroker()
})
afterAll(async () => {
  await broker.close()
})

const planner = () => oauthClient(broker, 'planner')
const worker = () => oauthClient(broker, 'worker')

/** A parent token for planner: docs read and write on the app, docs/**, ten minutes. */
const parentToken = async (grants = [...details(['read'], 'docs/**'), ...details(['write'], 'docs/**')], ttl = '10m') =>
  (await planner().issue(grants, { ttl })).access_token

const grantsOf = (client: string) => broker.store.grants.listGrants({ clientId: client })

/** The grants a client holds and the grant.issued events naming it. */
async function recordedFor(client: string): Promise<{ grants: string[]; issued: number }> {
  await broker.audit.flush()
  const events = await broker.audit.log!.read()
  return {
    grants: (await grantsOf(client)).map((g) => g.id),
    issued: events.filter((e) => e.type === 'grant.issued' && e.client === client).length,
  }
}

/** Runs a refusal and checks it left nothing behind: no grant, no grant.issued for `client`. */
async function nothingRecorded<T>(client: string, refusal: () => Promise<T>): Promise<T> {
  const before = await recordedFor(client)
  const result = await refusal()
  expect(await recordedFor(client)).toEqual(before)
  return result
}

describe('token exchange (RFC 8693) with a writ token as subject', () => {
  it('gives a receiving client a subset of the parent, with act, the parent grant and no longer life', async () => {
    const subject = await parentToken()
    const parent = claimsOf(subject)
    const child = await worker().exchange(subject, {
      authorization_details: JSON.stringify(details(['read'], 'docs/guide/*')),
      ttl: '2m',
    })
    expect(child.token_type).toBe('bearer')
    expect(child.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token')
    const claims = claimsOf(child.access_token)
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: 'planner',
      client_id: 'worker',
      act: { sub: 'worker' },
      parent_grant: parent.jti,
      ancestor_grants: [{ client_id: 'planner', grant_id: parent.jti }],
      authorization_details: details(['read'], 'docs/guide/*'),
      task: { id: 'JIRA-4711', requested_by: 'carol@example.com' },
      aud: APP,
    })
    expect(claims.exp as number).toBeLessThanOrEqual(parent.exp as number)
    expect((claims.exp as number) - (claims.iat as number)).toBe(120)
    expect(child.parent_grant_id).toBe(parent.jti)

    // The grant is recorded with its chain, and the audit log tells the exchange under both grants.
    const [recorded] = await grantsOf('worker')
    expect(recorded!.delegation).toEqual({
      parentId: parent.jti,
      parentClientId: 'planner',
      ancestors: [{ clientId: 'planner', grantId: parent.jti }],
      depth: 1,
      maxDepth: 2,
      subject: 'planner',
      act: { sub: 'worker' },
    })
    await broker.audit.flush()
    const story = await broker.audit.log!.find({ grantId: parent.jti as string })
    const exchanged = story.find((e) => e.type === 'grant.issued' && e.grant === claims.jti)
    expect(exchanged).toMatchObject({
      client: 'worker',
      delegation: { parent: parent.jti, parent_client: 'planner', depth: 1, subject: 'planner', act: { sub: 'worker' } },
    })

    // The delegated token is live like any other (introspection by its holder).
    const introspected = await broker.call('POST', '/oauth/introspect', {
      basic: ['worker', 'worker-secret-6'],
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: child.access_token }).toString(),
    })
    expect(await introspected.json()).toMatchObject({ active: true, client_id: 'worker', sub: 'planner' })

    // A second hand-over nests act: the current actor outermost (RFC 8693 §4.1).
    const grandchild = await oauthClient(broker, 'sub').exchange(child.access_token, {
      authorization_details: JSON.stringify(details(['read'], 'docs/guide/intro.md')),
    })
    const nested = claimsOf(grandchild.access_token)
    expect(nested).toMatchObject({ sub: 'planner', client_id: 'sub', act: { sub: 'sub', act: { sub: 'worker' } }, parent_grant: claims.jti })
    expect(nested.exp as number).toBeLessThanOrEqual(claims.exp as number)
  })

  it('revokes a chain from its root (RFC 7009 by the root\'s holder), and the audit tells each member why', async () => {
    const asked = { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }
    const root = await parentToken()
    const child = await worker().exchange(root, asked)
    const grandchild = await oauthClient(broker, 'sub').exchange(child.access_token, asked)
    const revoked = await broker.call('POST', '/oauth/revoke', {
      basic: ['planner', 'planner-secret-7'],
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: root }).toString(),
    })
    expect(revoked.status).toBe(200)
    for (const [client, id] of [['worker', child.grant_id], ['sub', grandchild.grant_id]] as const) {
      expect(await broker.store.grants.getGrant(client, id as string)).toMatchObject({ state: 'revoked', revocation: { by: 'client:planner' } })
    }
    await broker.audit.flush()
    const story = await auditStory(broker.audit.log!, { grantId: grandchild.grant_id as string })
    const rootId = claimsOf(root).jti
    expect(story.filter((e) => e.type === 'grant.issued').map((e) => e.grant)).toEqual([rootId, child.grant_id, grandchild.grant_id])
    expect(story.find((e) => e.type === 'grant.revoked')).toMatchObject({ grant: rootId, count: 3, actor: 'client:planner' })
  })

  describe('refuses, recording nothing', () => {
    it.each([
      ['a wider action', details(['write'], 'docs/**'), 'invalid_authorization_details', /authorization_details\[0\].*action write not in \[read\]/],
      ['a wider identifier (docs/** from docs/*)', details(['read'], 'docs/**'), 'invalid_authorization_details', /identifier docs\/\*\* not covered by docs\/\*/],
      ['another location', details(['read'], 'docs/a.md', 'https://git.example.com/acme/other'), 'invalid_authorization_details', /location https:\/\/git.example.com\/acme\/other not covered/],
      ['another type', [{ type: 'deploy', actions: ['create'], locations: [APP] }], 'invalid_authorization_details', /authorization_details\[0\] \(deploy create/],
      ['a type-specific member the parent lacks', [{ ...details(['read'], 'docs/a.md')[0], branch: 'main' }], 'invalid_authorization_details', /branch: must be the same/],
    ])('%s', async (_name, asked, error, message) => {
      const subject = await parentToken(details(['read'], 'docs/*'))
      const refusal = await nothingRecorded('worker', () => worker().refused(subject, { authorization_details: JSON.stringify(asked) }))
      expect(refusal).toMatchObject({ status: 400, error })
      expect(refusal.description).toMatch(message)
    })

    it('a longer life than the parent has left', async () => {
      const subject = await parentToken(details(['read'], 'docs/**'), '5m')
      const refusal = await nothingRecorded('worker', () =>
        worker().refused(subject, { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')), ttl: '6m' }),
      )
      expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(refusal.description).toMatch(/^ttl: 360 s is longer than the subject token's remaining life \(300 s\)/)
    })

    it('a chain deeper than the policy allows (the smallest limit along it binds)', async () => {
      const subject = await parentToken()
      const asked = { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }
      const one = await worker().exchange(subject, asked)
      const two = await oauthClient(broker, 'sub').exchange(one.access_token, asked)
      // sub may delegate to leaf five deep, but planner's chain stops at two.
      const refusal = await nothingRecorded('leaf', () => oauthClient(broker, 'leaf').refused(two.access_token, asked))
      expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(refusal.description).toMatch(/3 hand-overs deep; the policy allows 2/)
    })

    it('a client the parent\'s client may not delegate to', async () => {
      const subject = await parentToken()
      const refusal = await nothingRecorded('outsider', () =>
        oauthClient(broker, 'outsider').refused(subject, { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }),
      )
      expect(refusal).toMatchObject({ status: 400, error: 'unauthorized_client' })
      expect(refusal.description).toMatch(/client outsider may not receive tokens of client planner.*delegate_to/)
    })

    it('a revoked parent', async () => {
      const subject = await parentToken()
      const revoked = await broker.call('POST', '/oauth/revoke', {
        basic: ['planner', 'planner-secret-7'],
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: subject }).toString(),
      })
      expect(revoked.status).toBe(200)
      const refusal = await nothingRecorded('worker', () => worker().refused(subject, { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }))
      expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(refusal.description).toMatch(/^subject_token: its grant .* was revoked/)
    })

    it('an expired parent', async () => {
      const subject = await parentToken(details(['read'], 'docs/**'), '1m')
      broker.clock.advance(61_000)
      const refusal = await nothingRecorded('worker', () => worker().refused(subject, { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }))
      expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(refusal.description).toMatch(/^subject_token: not a live writ access token/)
    })

    it('a subject token that is not a writ token', async () => {
      const refusal = await nothingRecorded('worker', () => worker().refused('not.a.token', { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }))
      expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
    })

    it('missing or wrong parameters, each named', async () => {
      const subject = await parentToken()
      const asked = JSON.stringify(details(['read'], 'docs/a.md'))
      const w = worker()
      const before = await recordedFor('worker')
      expect((await w.refused(subject, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', authorization_details: asked })).description).toMatch(/^subject_token_type:/)
      expect((await w.refused(subject, { authorization_details: asked, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' })).description).toMatch(/^requested_token_type:/)
      expect((await w.refused(subject, {})).description).toMatch(/^authorization_details: required/)
      expect((await w.refused(subject, { authorization_details: asked, actor_token: 'x' })).description).toMatch(/^actor_token:/)
      expect(await w.refused(subject, { authorization_details: asked, scope: 'read' })).toMatchObject({ error: 'invalid_scope' })
      expect(await recordedFor('worker')).toEqual(before)
    })
  })

  describe('a DPoP-bound parent', () => {
    const htu = `${ISSUER}/oauth/token`

    it('is exchanged only with a proof of its key bound to the subject token', async () => {
      const parentKey = await dpopKey()
      const keyPair = { privateKey: parentKey.privateKey, publicKey: await crypto.subtle.importKey('jwk', parentKey.publicJwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']) }
      const issued = await planner().issue(details(['read'], 'docs/**'), { ttl: '10m' }, oauth.DPoP(planner().meta, keyPair))
      expect(issued.token_type).toBe('dpop')
      const subject = issued.access_token
      const asked = { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }

      const before = await recordedFor('worker')
      const none = await worker().refused(subject, asked)
      expect(none).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(none.description).toMatch(/^subject_token_dpop: required, because the subject token is DPoP-bound/)

      const otherKey = await dpopKey()
      const wrongKey = await worker().refused(subject, { ...asked, subject_token_dpop: await dpopProof(otherKey, { htm: 'POST', htu, accessToken: subject, clock: broker.clock }) })
      expect(wrongKey).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })

      const noAth = await worker().refused(subject, { ...asked, subject_token_dpop: await dpopProof(parentKey, { htm: 'POST', htu, clock: broker.clock }) })
      expect(noAth).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
      expect(await recordedFor('worker')).toEqual(before)

      const proof = await dpopProof(parentKey, { htm: 'POST', htu, accessToken: subject, clock: broker.clock })
      const child = await worker().exchange(subject, { ...asked, subject_token_dpop: proof })
      // The child is bearer here: the receiving client sent no DPoP proof of its own.
      expect(child.token_type).toBe('bearer')
      // The proof is single use: replaying it is refused.
      const replay = await worker().refused(subject, { ...asked, subject_token_dpop: proof })
      expect(replay).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    })
  })
})
