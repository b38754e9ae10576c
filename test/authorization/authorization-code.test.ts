import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../../src/audit/types.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { ADMIN_TOKEN, enrol, form, ISSUER, json, type ApprovalBroker } from '../approvals/helpers.js'
import { dpopKey, dpopProof } from '../helpers/dpop.js'
import {
  authorizeQuery,
  CLIENT,
  consent,
  consentOptions,
  DEPLOY,
  makeAuthorizationBroker,
  MIGRATE,
  pkce,
  redeem,
  REDIRECT,
  RS,
  startRequest,
  submitConsent,
  WEB_REDIRECT,
} from './helpers.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator
let dana: SoftAuthenticator

beforeAll(async () => {
  broker = await makeAuthorizationBroker()
  alice = broker.authenticator()
  dana = broker.authenticator()
  await enrol(broker, alice, 'alice@example.com', 'release-managers')
  await enrol(broker, dana, 'dana@example.com', 'dbas')
})
afterAll(() => broker?.close())

/** A code for the docs grant, consented by alice, with its verifier. */
async function docsCode(overrides = {}) {
  const { verifier, challenge } = pkce()
  const id = await startRequest(broker, authorizeQuery(challenge, overrides))
  const answer = await consent(broker, id, alice)
  return { code: answer.get('code')!, verifier, id, answer }
}

const introspect = (token: string) =>
  broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: RS })

/** Where a 302 goes, as parameters. */
function redirected(res: Response): { base: string; params: URLSearchParams } {
  const location = res.headers.get('location') ?? ''
  const [base, query] = location.split('?') as [string, string]
  return { base, params: new URLSearchParams(query) }
}

describe('metadata', () => {
  it('advertises the authorization endpoint, code with S256 only, and RFC 9207 iss', async () => {
    const meta = await (await broker.call('GET', '/.well-known/oauth-authorization-server')).json()
    expect(meta).toMatchObject({
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    })
    expect(meta.grant_types_supported).toContain('authorization_code')
    expect(meta.token_endpoint_auth_methods_supported).toContain('none')
  })
})

describe('the authorization code flow', () => {
  it('issues a token for exactly the consented grants, for the person, after a consent with their key', async () => {
    const { verifier, challenge } = pkce()
    const query = authorizeQuery(challenge, { resource: ['https://git.example.com/acme/app'] })
    const page = await broker.call('GET', `/oauth/authorize?${query}`)
    expect(page.status).toBe(200)
    const html = await page.text()
    for (const shown of [CLIENT, REDIRECT, 'docs/**', 'https://git.example.com/acme/app', 'Allow with security key']) {
      expect(html).toContain(shown)
    }
    const id = /data-base="\/oauth\/authorize\/([^"]+)"/.exec(html)![1]!
    const options = await consentOptions(broker, id)
    expect(options.userVerification).toBe('required')
    expect(options.allowCredentials).toEqual([])
    const res = await submitConsent(broker, id, alice.assert(options))
    expect(res.status).toBe(200)
    const to = new URL((await res.json()).redirect_to)
    expect(`${to.origin}${to.pathname}`).toBe(REDIRECT)
    expect(to.searchParams.get('state')).toBe('st-123')
    expect(to.searchParams.get('iss')).toBe(ISSUER)
    const code = to.searchParams.get('code')!
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/)

    const token = await redeem(broker, { code, code_verifier: verifier, resource: 'https://git.example.com/acme/app' })
    expect(token.status).toBe(200)
    const body = await token.json()
    expect(body.token_type).toBe('Bearer')
    expect(body.refresh_token).toBeUndefined()
    expect(body.authorization_details).toEqual([
      { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
    ])
    const claims = decodeJwt(body.access_token)
    expect(claims).toMatchObject({
      sub: 'alice@example.com',
      client_id: CLIENT,
      aud: 'https://git.example.com/acme/app',
      task: { id: `authz-${id}`, requested_by: 'alice@example.com' },
    })
    expect((await (await introspect(body.access_token)).json()).active).toBe(true)

    const events = await broker.audit.log!.find({ taskId: `authz-${id}` })
    expect(events.map((e: AuditEvent) => e.type)).toEqual([
      'authorization.requested',
      'authorization.consented',
      'grant.issued',
      'authorization.code_redeemed',
    ])
  })

  it('accepts a registered loopback redirect URI on any port (RFC 8252 §7.3), and only that path', async () => {
    const { verifier, challenge } = pkce()
    const port = 'http://127.0.0.1:51734/callback'
    const { code } = await docsCode({ redirect_uri: port, code_challenge: challenge })
    expect((await redeem(broker, { code, code_verifier: verifier, redirect_uri: port })).status).toBe(200)
    const other = await broker.call('GET', `/oauth/authorize?${authorizeQuery(challenge, { redirect_uri: 'http://127.0.0.1:51734/callback/x' })}`)
    expect(other.status).toBe(400)
    expect(other.headers.get('location')).toBeNull()
  })

  it('grants what a scope the policy defines expands to, bound to the resource, with the scope in the token', async () => {
    const { verifier, challenge } = pkce()
    const resource = 'https://git.example.com/acme/app'
    const query = authorizeQuery(challenge, { authorization_details: undefined, scope: 'docs:read', resource: [resource] })
    const id = await startRequest(broker, query)
    const code = (await consent(broker, id, alice)).get('code')!
    const body = await (await redeem(broker, { code, code_verifier: verifier })).json()
    expect(body.authorization_details).toEqual([
      { type: 'repo', actions: ['read'], identifier: 'docs/**', locations: [resource] },
    ])
    expect(decodeJwt(body.access_token)).toMatchObject({ scope: 'docs:read', aud: resource, sub: 'alice@example.com' })
    // Without a resource, the scope's template has no server to be bound to.
    const unbound = await broker.call('GET', `/oauth/authorize?${authorizeQuery(challenge, { authorization_details: undefined, scope: 'docs:read' })}`)
    expect(redirected(unbound).params.get('error')).toBe('invalid_target')
  })

  it('echoes state and iss on an https redirect URI too', async () => {
    const { answer } = await docsCode({ redirect_uri: WEB_REDIRECT, state: 'web state' })
    expect(answer.get('state')).toBe('web state')
    expect(answer.get('iss')).toBe(ISSUER)
  })
})

describe('errors before the redirect URI is trusted are shown, never redirected (RFC 6749 §4.1.2.1)', () => {
  const { challenge } = pkce()
  for (const [name, overrides, says] of [
    ['an unknown client', { client_id: 'nobody' }, 'unknown client'],
    ['a confidential client', { client_id: 'agent-a' }, 'not a public client'],
    ['no redirect URI', { redirect_uri: undefined }, 'redirect_uri: required'],
    ['an unregistered redirect URI', { redirect_uri: 'https://evil.example.com/cb' }, 'not one registered'],
    ['a redirect URI that only starts like a registered one', { redirect_uri: `${WEB_REDIRECT}/more` }, 'not one registered'],
    ['a registered https URI on another port', { redirect_uri: 'https://app.example.com:8443/oauth/cb' }, 'not one registered'],
    ['a redirect URI given twice', { redirect_uri: [REDIRECT, 'https://evil.example.com/cb'] as never }, 'more than once'],
  ] as const) {
    it(`${name}: an error page`, async () => {
      const res = await broker.call('GET', `/oauth/authorize?${authorizeQuery(challenge, overrides as never)}`)
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(await res.text()).toContain(says)
    })
  }
})

describe('refusals after the redirect URI is trusted go back to the client', () => {
  const { challenge } = pkce()
  for (const [name, overrides, error, says] of [
    ['no code_challenge (PKCE is required)', { code_challenge: undefined }, 'invalid_request', 'code_challenge: required'],
    ['code_challenge_method plain', { code_challenge_method: 'plain' }, 'invalid_request', 'must be S256'],
    ['no code_challenge_method (its default is plain)', { code_challenge_method: undefined }, 'invalid_request', 'must be S256'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type', 'only code'],
    ['a grant the policy does not allow', { authorization_details: JSON.stringify([{ type: 'repo', actions: ['write'], locations: ['https://git.example.com/acme/app'], identifier: 'src/**' }]) }, 'access_denied', 'grants[0]'],
    ['a rule that needs two approvers', { authorization_details: JSON.stringify(MIGRATE) }, 'access_denied', 'rule db-migrate needs 2'],
    ['a rule that forbids self-approval', { authorization_details: JSON.stringify([{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/prod'] }]) }, 'access_denied', 'other than the requester'],
    ['scope', { scope: 'repo:read' }, 'invalid_scope', 'scope:'],
    ['a resource no grant covers', { resource: ['https://elsewhere.example.com/'] }, 'invalid_target', 'is not a location of any requested grant'],
    ['a resource with a fragment', { resource: ['https://git.example.com/acme/app#x'] }, 'invalid_target', 'fragment'],
    ['a relative resource', { resource: ['/acme/app'] }, 'invalid_target', 'absolute URI'],
  ] as const) {
    it(`${name}: ${error}`, async () => {
      const res = await broker.call('GET', `/oauth/authorize?${authorizeQuery(challenge, overrides as never)}`)
      expect(res.status).toBe(302)
      const { base, params } = redirected(res)
      expect(base).toBe(REDIRECT)
      expect(params.get('error')).toBe(error)
      expect(params.get('error_description')).toContain(says)
      expect(params.get('state')).toBe('st-123')
      expect(params.get('iss')).toBe(ISSUER)
      expect(params.get('code')).toBeNull()
    })
  }

  it('declining sends the browser back with access_denied, and the request can no longer be consented to', async () => {
    const { challenge: c } = pkce()
    const id = await startRequest(broker, authorizeQuery(c))
    const options = await consentOptions(broker, id)
    const res = await broker.call('POST', `/oauth/authorize/${id}/decline`, json({}))
    expect(res.status).toBe(200)
    const to = new URL((await res.json()).redirect_to)
    expect(to.searchParams.get('error')).toBe('access_denied')
    expect(to.searchParams.get('state')).toBe('st-123')
    expect((await submitConsent(broker, id, alice.assert(options))).status).toBe(404)
  })
})

describe('codes are single-use, short-lived and bound', () => {
  it('refuses a PKCE verifier that does not match, and the code is then used up', async () => {
    const { code, verifier } = await docsCode()
    const wrong = await redeem(broker, { code, code_verifier: pkce().verifier })
    expect(wrong.status).toBe(400)
    expect((await wrong.json()).error).toBe('invalid_grant')
    expect((await (await redeem(broker, { code, code_verifier: verifier })).json()).error).toBe('invalid_grant')
  })

  it('refuses a reused code and revokes the token issued from it (RFC 6749 §4.1.2)', async () => {
    const { code, verifier, id } = await docsCode()
    const first = await redeem(broker, { code, code_verifier: verifier })
    expect(first.status).toBe(200)
    const { access_token: token } = await first.json()
    expect((await (await introspect(token)).json()).active).toBe(true)
    const again = await redeem(broker, { code, code_verifier: verifier })
    expect(again.status).toBe(400)
    expect((await again.json()).error).toBe('invalid_grant')
    expect((await (await introspect(token)).json()).active).toBe(false)
    const events = await broker.audit.log!.find({ taskId: `authz-${id}` })
    expect(events.map((e) => e.type)).toContain('authorization.code_replayed')
  })

  it('refuses a redirect_uri other than the one the code was sent to', async () => {
    const { code, verifier } = await docsCode()
    const res = await redeem(broker, { code, code_verifier: verifier, redirect_uri: WEB_REDIRECT })
    expect((await res.json()).error).toBe('invalid_grant')
  })

  it('refuses an expired code (60 s)', async () => {
    const { code, verifier } = await docsCode()
    broker.clock.advance(61_000)
    const res = await redeem(broker, { code, code_verifier: verifier })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toBe('invalid_grant')
  })

  it('refuses another client_id, an unknown code, and any client authentication', async () => {
    const { code, verifier } = await docsCode()
    expect((await (await redeem(broker, { code, code_verifier: verifier, client_id: 'agent-a' })).json()).error).toBe('invalid_client')
    expect((await (await redeem(broker, { code: 'x'.repeat(43), code_verifier: verifier })).json()).error).toBe('invalid_grant')
    const basic = `Basic ${Buffer.from(`${CLIENT}:x`).toString('base64')}`
    expect((await redeem(broker, { code, code_verifier: verifier }, { authorization: basic })).status).toBe(401)
  })

  it('refuses a resource at the token request that the authorization request did not name', async () => {
    const { code, verifier } = await docsCode()
    const res = await redeem(broker, { code, code_verifier: verifier, resource: 'https://git.example.com/acme/other' })
    expect((await res.json()).error).toBe('invalid_target')
  })

  it('a public client cannot use client_credentials: it authenticates nowhere', async () => {
    const res = await broker.call('POST', '/oauth/token', form({ grant_type: 'client_credentials', client_id: CLIENT, task_id: 'T', authorization_details: JSON.stringify(DEPLOY) }))
    expect(res.status).toBe(401)
  })
})

describe('the consent is bound to the exact request', () => {
  it('refuses an assertion made for another request (other grants), and one whose challenge was made up', async () => {
    const { challenge } = pkce()
    const docs = await startRequest(broker, authorizeQuery(challenge))
    const deploy = await startRequest(broker, authorizeQuery(challenge, { authorization_details: JSON.stringify(DEPLOY) }))
    const forDeploy = alice.assert(await consentOptions(broker, deploy))
    const res = await submitConsent(broker, docs, forDeploy)
    expect(res.status).toBe(403)
    expect((await res.json()).error).toBe('access_denied')

    const options = await consentOptions(broker, docs)
    const other = createHash('sha256').update('other grants').digest('base64url')
    expect((await submitConsent(broker, docs, alice.assert(options, { challenge: other }))).status).toBe(403)
  })

  it('uses a challenge once', async () => {
    const { challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge))
    const assertion = alice.assert(await consentOptions(broker, id))
    // A second request id, so the replay is not refused only because the first one was decided.
    expect((await submitConsent(broker, id, assertion)).status).toBe(200)
    expect((await submitConsent(broker, id, assertion)).status).toBeGreaterThanOrEqual(403)
  })

  it('refuses a key that is not enrolled and an assertion without user verification', async () => {
    const { challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge))
    const stranger = broker.authenticator()
    stranger.register({ rp: { id: 'writ.test', name: 'x' }, user: { id: 'dXNlcg', name: 'u', displayName: 'u' }, challenge: 'AAAA', pubKeyCredParams: [] } as never)
    expect((await submitConsent(broker, id, stranger.assert(await consentOptions(broker, id)))).status).toBe(403)
    expect((await submitConsent(broker, id, alice.assert(await consentOptions(broker, id), { uv: false }))).status).toBe(403)
  })
})

describe('grants that need approval', () => {
  it('counts the consent as the approval of a member of the rule\'s group', async () => {
    const { verifier, challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge, { authorization_details: JSON.stringify(DEPLOY) }))
    const code = (await consent(broker, id, alice)).get('code')!
    const body = await (await redeem(broker, { code, code_verifier: verifier })).json()
    const claims = decodeJwt(body.access_token) as { approval: { id: string; approvers: Array<{ sub: string }> } }
    expect(claims.approval.id).toBe(id)
    expect(claims.approval.approvers.map((a) => a.sub)).toEqual(['alice@example.com'])
  })

  it('refuses the consent of someone outside the group, and the request stays open for another person', async () => {
    const { challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge, { authorization_details: JSON.stringify(DEPLOY) }))
    const res = await submitConsent(broker, id, dana.assert(await consentOptions(broker, id)))
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toContain('dana@example.com may not approve')
    expect((await consent(broker, id, alice)).get('code')).toBeTruthy()
  })

  it('refuses to redeem a code whose consenting key was disabled meanwhile', async () => {
    const carol = broker.authenticator()
    const key = await enrol(broker, carol, 'bob@example.com', 'release-managers')
    const { verifier, challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge))
    const code = (await consent(broker, id, carol)).get('code')!
    const disabled = await broker.call('POST', `/admin/approvers/keys/${key}/disable`, { ...json({ reason: 'lost' }), bearer: ADMIN_TOKEN })
    expect(disabled.status).toBe(200)
    expect((await (await redeem(broker, { code, code_verifier: verifier })).json()).error).toBe('invalid_grant')
  })
})

describe('DPoP (RFC 9449 §10)', () => {
  it('binds the code to dpop_jkt: redeemed only with a proof by that key, and the token is DPoP-bound', async () => {
    const key = await dpopKey()
    const other = await dpopKey()
    const first = await redeem(broker, {}, { dpop: await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/oauth/token`, clock: broker.clock }) })
    const nonce = first.headers.get('dpop-nonce')!
    const proof = (k = key) => dpopProof(k, { htm: 'POST', htu: `${ISSUER}/oauth/token`, clock: broker.clock, nonce })
    const { verifier, challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge, { dpop_jkt: key.jkt }))
    const code = (await consent(broker, id, alice)).get('code')!
    const bearer = await redeem(broker, { code, code_verifier: verifier })
    expect((await bearer.json()).error).toBe('invalid_dpop_proof')

    const { verifier: v2, challenge: c2 } = pkce()
    const id2 = await startRequest(broker, authorizeQuery(c2, { dpop_jkt: key.jkt }))
    const code2 = (await consent(broker, id2, alice)).get('code')!
    expect((await (await redeem(broker, { code: code2, code_verifier: v2 }, { dpop: await proof(other) })).json()).error).toBe('invalid_dpop_proof')

    const { verifier: v3, challenge: c3 } = pkce()
    const id3 = await startRequest(broker, authorizeQuery(c3, { dpop_jkt: key.jkt }))
    const code3 = (await consent(broker, id3, alice)).get('code')!
    const res = await redeem(broker, { code: code3, code_verifier: v3 }, { dpop: await proof() })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.token_type).toBe('DPoP')
    expect((decodeJwt(body.access_token).cnf as { jkt: string }).jkt).toBe(key.jkt)
  })
})

describe('locks', () => {
  const lock = async (body: Record<string, unknown>): Promise<string> => {
    const res = await broker.call('POST', '/admin/locks', { ...json({ reason: 'incident', ...body }), bearer: ADMIN_TOKEN })
    expect(res.status).toBe(201)
    return (await res.json()).lock.id
  }
  const unlock = async (id: string) => {
    expect((await broker.call('DELETE', `/admin/locks/${id}`, { bearer: ADMIN_TOKEN })).status).toBe(200)
  }

  it('a locked client cannot send anyone to the consent page', async () => {
    const id = await lock({ client_id: CLIENT })
    try {
      const res = await broker.call('GET', `/oauth/authorize?${authorizeQuery(pkce().challenge)}`)
      expect(res.status).toBe(302)
      expect(redirected(res).params.get('error')).toBe('access_denied')
    } finally {
      await unlock(id)
    }
  })

  it('a locked person cannot consent, nor redeem a code they consented to before the lock', async () => {
    const { challenge } = pkce()
    const pending = await startRequest(broker, authorizeQuery(challenge))
    const { code, verifier } = await docsCode()
    const id = await lock({ approver: 'alice@example.com', revoke: false })
    try {
      expect((await submitConsent(broker, pending, alice.assert(await consentOptions(broker, pending)))).status).toBe(403)
      const res = await redeem(broker, { code, code_verifier: verifier })
      expect(res.status).toBe(403)
      expect((await res.json()).error).toBe('access_denied')
    } finally {
      await unlock(id)
    }
  })
})

describe('a cloned key', () => {
  it('shows itself: a counter that goes backwards refuses the consent, flags the key, and is audited', async () => {
    const erin = broker.authenticator()
    const key = await enrol(broker, erin, 'erin@example.com', 'dbas')
    const { challenge } = pkce()
    const first = await startRequest(broker, authorizeQuery(challenge))
    await consent(broker, first, erin)
    await consent(broker, await startRequest(broker, authorizeQuery(challenge)), erin)
    const id = await startRequest(broker, authorizeQuery(challenge))
    const res = await submitConsent(broker, id, erin.assert(await consentOptions(broker, id), { counter: 1 }))
    expect(res.status).toBe(403)
    const keys = await (await broker.call('GET', '/admin/approvers/keys', { bearer: ADMIN_TOKEN })).json()
    expect(keys.keys.find((k: { credential_id: string }) => k.credential_id === key).flagged).toMatchObject({ reason: 'counter_regression' })
    const events = await broker.audit.log!.find({ taskId: `authz-${id}` })
    expect(events.map((e) => e.type)).toEqual(['authorization.requested', 'authorization.refused'])
  })
})
