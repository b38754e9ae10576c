import { createHmac } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  ADMIN_TOKEN,
  B,
  ceremonyOptions,
  deployManifest,
  enrol,
  enrolCast,
  form,
  ISSUER,
  json,
  makeApprovalBroker,
  migrateManifest,
  poll,
  requestApproval,
  submit,
  WEBHOOK_SECRET,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { BER_REENCODINGS } from '../approvals/fixtures/ber-signature.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator
let aliceKey: string
let bob: SoftAuthenticator
let carol: SoftAuthenticator
let dana: SoftAuthenticator
let erin: SoftAuthenticator

beforeAll(async () => {
  broker = await makeApprovalBroker()
  const cast = await enrolCast(broker)
  ;({ alice, bob, carol, dana, erin } = cast)
  aliceKey = cast.keys.alice
  await enrol(broker, dana, 'dana@example.com', 'dbas') // dana's second key
})
afterAll(() => broker.close())

async function verifyToken(token: string) {
  const jwks = await (await broker.call('GET', '/.well-known/jwks.json')).json()
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    currentDate: new Date(broker.clock()),
  })
}

/** Options for approving `id`, answered by `auth` (with overrides), submitted to `target`. */
async function approveWith(auth: SoftAuthenticator, id: string, overrides = {}, target = id) {
  const options = await ceremonyOptions(broker, id, 'approve')
  return submit(broker, target, 'approve', auth.assert(options, overrides))
}

describe('approval flow', () => {
  it('approves a request with a security key, and the agent collects a token naming that key', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    expect(pending.approval_uri).toBe(`${ISSUER}/approve/${pending.id}`)
    expect(pending).toMatchObject({ expires_in: 300, interval: 5 })

    const before = await poll(broker, A, pending.auth_req_id)
    expect(before.status).toBe(400)
    expect((await before.json()).error).toBe('authorization_pending')

    const res = await approveWith(alice, pending.id)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'approved', approver: 'alice@example.com', approvals: 1 })

    broker.clock.advance(5000)
    const token = await poll(broker, A, pending.auth_req_id)
    expect(token.status).toBe(200)
    const body = await token.json()
    const { payload } = await verifyToken(body.access_token)
    expect(payload.approval).toEqual({
      id: pending.id,
      manifest_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      approvers: [
        { sub: 'alice@example.com', aaguid: '3b8a3f6e-2c4d-4e5f-8a9b-0c1d2e3f4a5b', credential_id: aliceKey, at: expect.any(Number) },
      ],
    })
    expect(payload.authorization_details).toEqual(deployManifest().grants)
    expect(payload.exp! - payload.iat!).toBe(300)
    const state = await broker.store.grants.getGrant('agent-a', body.grant_id)
    expect(state.state).toBe('live')
    if (state.state === 'live') {
      expect(state.grant.approval).toMatchObject({ id: pending.id, approvers: [{ sub: 'alice@example.com', credentialId: aliceKey }] })
      expect(state.grant.manifestSha256).toBe((payload.approval as { manifest_sha256: string }).manifest_sha256)
    }
  })

  it('notifies the approver group with a signed webhook', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-43', requested_by: 'carol@example.com' } }))
    await new Promise((resolve) => setImmediate(resolve))
    const delivery = broker.webhooks.find((w) => JSON.parse(String(w.init.body)).approval_id === pending.id)
    expect(delivery).toBeDefined()
    expect(delivery!.url).toBe('https://hooks.example.com/writ')
    const headers = new Headers(delivery!.init.headers)
    const bodyText = String(delivery!.init.body)
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(headers.get('writ-signature')!)!
    expect(createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${bodyText}`).digest('hex')).toBe(v1)
    expect(JSON.parse(bodyText)).toMatchObject({
      type: 'writ.approval_request',
      group: 'release-managers',
      approval_uri: pending.approval_uri,
      client_id: 'agent-a',
      task: { id: 'REL-43' },
      grants: deployManifest().grants,
    })
  })

  it('still answers at once when the webhook never responds', async () => {
    const hung = await makeApprovalBroker({ fetch: () => new Promise<Response>(() => undefined) })
    try {
      await enrol(hung, hung.authenticator(), 'alice@example.com', 'release-managers')
      const res = await hung.call('POST', '/v1/tokens', { ...json(deployManifest()), basic: A })
      expect(res.status).toBe(202)
    } finally {
      await hung.close()
    }
  })

  it('denies with a security key: the agent gets access_denied', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const options = await ceremonyOptions(broker, pending.id, 'deny')
    const res = await submit(broker, pending.id, 'deny', bob.assert(options))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'denied', approver: 'bob@example.com' })
    const polled = await poll(broker, A, pending.auth_req_id)
    expect(polled.status).toBe(400)
    expect((await polled.json()).error).toBe('access_denied')
    // A denied request takes no approval afterwards.
    const late = await broker.call('POST', `/approve/${pending.id}/options`, json({ action: 'approve' }))
    expect(late.status).toBe(409)
  })

  it('refuses to use a challenge made to deny as an approval', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const options = await ceremonyOptions(broker, pending.id, 'deny')
    const res = await submit(broker, pending.id, 'approve', alice.assert(options))
    expect(res.status).toBe(403)
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(400)
  })

  it('expires a request nobody decided: expired_token, and no more ceremonies', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    broker.clock.advance(301_000)
    const polled = await poll(broker, A, pending.auth_req_id)
    expect(polled.status).toBe(400)
    expect((await polled.json()).error).toBe('expired_token')
    const late = await submit(broker, pending.id, 'approve', alice.assert(options))
    expect(late.status).toBe(403)
    expect((await broker.call('POST', `/approve/${pending.id}/options`, json({ action: 'approve' }))).status).toBe(409)
  })

  it('rejects an assertion made for request A submitted for request B', async () => {
    const a = await requestApproval(broker, A, deployManifest({ task: { id: 'A', requested_by: 'carol@example.com' } }))
    const b = await requestApproval(broker, A, deployManifest({ task: { id: 'B', requested_by: 'carol@example.com' } }))
    await ceremonyOptions(broker, b.id, 'approve') // B has live challenges of its own
    const res = await approveWith(alice, a.id, {}, b.id)
    expect(res.status).toBe(403)
    expect((await res.json()).error).toBe('access_denied')
    expect((await poll(broker, A, b.auth_req_id)).status).toBe(400)
    // An assertion over B's challenge with A's stored hash would not verify either: the challenge
    // is recomputed from each request, so a forged clientDataJSON cannot name B's challenge.
  })

  it('rejects the same assertion replayed', async () => {
    const pending = await requestApproval(broker, A, migrateManifest())
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const assertion = dana.assert(options)
    expect((await submit(broker, pending.id, 'approve', assertion)).status).toBe(200)
    const replay = await submit(broker, pending.id, 'approve', assertion)
    expect(replay.status).toBe(403)
  })

  it.each([
    ['the wrong origin', { origin: 'https://evil.example' }],
    ['the wrong RP ID', { rpId: 'evil.example' }],
    ['no user verification', { uv: false }],
    ['no user presence', { up: false }],
    ['another challenge', { challenge: 'x'.repeat(43) }],
    ['a registration type', { type: 'webauthn.create' }],
  ])('rejects an assertion with %s', async (_name, overrides) => {
    const pending = await requestApproval(broker, A, deployManifest())
    const res = await approveWith(bob, pending.id, overrides)
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toBe('the security key response was not accepted for this approval request')
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(400)
  })

  it.each(BER_REENCODINGS)('rejects a genuine signature re-encoded with %s, and the request stays pending', async (_name, reencode) => {
    const pending = await requestApproval(broker, A, deployManifest())
    for (const action of ['approve', 'deny'] as const) {
      const assertion = bob.assert(await ceremonyOptions(broker, pending.id, action))
      assertion.response.signature = reencode(Buffer.from(assertion.response.signature, 'base64url')).toString('base64url')
      const res = await submit(broker, pending.id, action, assertion)
      expect(res.status).toBe(403)
      expect((await res.json()).error).toBe('access_denied')
    }
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(400)
    // The key is not flagged by it: the DER form of the same decision counts.
    expect((await approveWith(bob, pending.id)).status).toBe(200)
  })

  it('rejects a signature counter that goes backwards and flags the key', async () => {
    const frank = broker.authenticator()
    const key = await enrol(broker, frank, 'bob@example.com', 'release-managers')
    const first = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(frank, first.id, { credentialId: key, counter: 10 })).status).toBe(200)
    const second = await requestApproval(broker, A, deployManifest())
    const res = await approveWith(frank, second.id, { credentialId: key, counter: 9 })
    expect(res.status).toBe(403)
    const keys = await (await broker.call('GET', '/admin/approvers/keys?approver=bob%40example.com', { bearer: ADMIN_TOKEN })).json()
    expect(keys.keys.find((k: { credential_id: string }) => k.credential_id === key)).toMatchObject({
      flagged: { reason: 'counter_regression' },
    })
    // The flagged key can never approve again, even with a higher counter.
    const third = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(frank, third.id, { credentialId: key, counter: 50 })).status).toBe(403)
    expect((await poll(broker, A, second.auth_req_id)).status).toBe(400)
  })

  it('needs two different people for a 2-of-M rule: the same person twice does not count', async () => {
    const pending = await requestApproval(broker, A, { ...migrateManifest(), task: { id: 'DB-2OF2', requested_by: 'frank@example.com' } })
    const [danaFirst, danaSecond] = [...dana.credentials.keys()]
    const one = await approveWith(dana, pending.id, { credentialId: danaFirst })
    expect(await one.json()).toMatchObject({ status: 'pending', approvals: 1 })
    const again = await approveWith(dana, pending.id, { credentialId: danaSecond })
    expect(again.status).toBe(403)
    expect((await again.json()).error_description).toMatch(/dana@example.com has already approved/)
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(400)

    const two = await approveWith(erin, pending.id)
    expect(await two.json()).toMatchObject({ status: 'approved', approver: 'erin@example.com', approvals: 2 })
    const token = await poll(broker, A, pending.auth_req_id)
    expect(token.status).toBe(200)
    const { payload } = await verifyToken((await token.json()).access_token)
    expect((payload.approval as { approvers: Array<{ sub: string }> }).approvers.map((a) => a.sub)).toEqual([
      'dana@example.com',
      'erin@example.com',
    ])
  })

  it('forbids the requester from approving their own request (compared case-insensitively)', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'SELF', requested_by: 'Carol@Example.com ' } }))
    const res = await approveWith(carol, pending.id, { credentialId: [...carol.credentials.keys()][0] })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/may not approve it/)
    // The requester may still deny.
    const options = await ceremonyOptions(broker, pending.id, 'deny')
    expect((await submit(broker, pending.id, 'deny', carol.assert(options))).status).toBe(200)
  })

  it('refuses approvers outside the rule\'s group', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const res = await submit(broker, pending.id, 'approve', erin.assert(options, { credentialId: [...erin.credentials.keys()][0] }))
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/not an approver/)
  })
})

describe('CIBA polling', () => {
  it('answers authorization_pending, slow_down, the token once, then invalid_grant', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'POLL-1', requested_by: 'carol@example.com' } }))
    const errorOf = async () => {
      const res = await poll(broker, A, pending.auth_req_id)
      return res.status === 200 ? 'token' : (await res.json()).error
    }
    expect(await errorOf()).toBe('authorization_pending')
    expect(await errorOf()).toBe('slow_down') // sooner than 5 s: the interval grows to 10 s
    broker.clock.advance(5_000)
    expect(await errorOf()).toBe('slow_down') // 5 s < 10 s: the interval grows to 15 s
    broker.clock.advance(15_000)
    expect(await errorOf()).toBe('authorization_pending')
    expect((await approveWith(alice, pending.id)).status).toBe(200)
    expect(await errorOf()).toBe('token')
    expect(await errorOf()).toBe('invalid_grant')
  })

  it('redeems the token exactly once under concurrent polls', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(alice, pending.id)).status).toBe(200)
    const results = await Promise.all(Array.from({ length: 6 }, () => poll(broker, A, pending.auth_req_id)))
    expect(results.filter((r) => r.status === 200)).toHaveLength(1)
    for (const r of results.filter((r) => r.status !== 200)) expect((await r.json()).error).toBe('invalid_grant')
  })

  it.each([
    ['another client\'s', (id: string) => id, B],
    ['a wrong secret', (id: string) => `${id.split('.')[0]}.${'A'.repeat(43)}`, A],
    ['an unknown', () => `nope.${'A'.repeat(43)}`, A],
    ['a malformed', () => 'not an id', A],
  ] as const)('answers invalid_grant for %s auth_req_id, and never a token', async (_name, mangle, client) => {
    const pending = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(alice, pending.id)).status).toBe(200)
    const res = await poll(broker, client as [string, string], mangle(pending.auth_req_id))
    expect(res.status).toBe(400)
    expect((await res.json()).error).toBe('invalid_grant')
    // The rightful client still collects it.
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(200)
  })

  it('names the missing auth_req_id', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      ...form({ grant_type: 'urn:openid:params:grant-type:ciba' }),
      basic: A,
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: 'auth_req_id: required' })
  })

  it('requires client authentication to poll', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const res = await broker.call('POST', '/oauth/token', {
      ...form({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: pending.auth_req_id }),
    })
    expect(res.status).toBe(401)
  })
})

describe('POST /oauth/bc-authorize', () => {
  const details = (grants: unknown[]) => JSON.stringify(grants)

  it('answers {auth_req_id, expires_in, interval}; a request needing no human is redeemable at once', async () => {
    const res = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({
        task_id: 'DOCS-1',
        authorization_details: details([{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }]),
      }),
      basic: A,
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(Object.keys(body).sort()).toEqual(['auth_req_id', 'expires_in', 'interval'])
    const token = await poll(broker, A, body.auth_req_id)
    expect(token.status).toBe(200)
    const { payload } = await verifyToken((await token.json()).access_token)
    expect(payload.approval).toBeUndefined()
    expect(payload.task).toEqual({ id: 'DOCS-1' })
  })

  it('starts an approval for grants that need one', async () => {
    const res = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'REL-9', requested_by: 'carol@example.com', authorization_details: details(deployManifest().grants) }),
      basic: A,
    })
    const body = await res.json()
    expect((await (await poll(broker, A, body.auth_req_id)).json()).error).toBe('authorization_pending')
    const id = body.auth_req_id.split('.')[0]
    expect((await approveWith(alice, id)).status).toBe(200)
    expect((await poll(broker, A, body.auth_req_id)).status).toBe(200)
  })

  it('refuses grants the policy does not allow, and unauthenticated clients', async () => {
    const denied = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'X', authorization_details: details([{ type: 'db', actions: ['drop'], locations: ['https://db.example.com/x'] }]) }),
      basic: A,
    })
    expect(denied.status).toBe(403)
    expect((await denied.json()).error_description).toMatch(/grants\[0\]/)
    const anonymous = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'X', authorization_details: details(deployManifest().grants) }),
    })
    expect(anonymous.status).toBe(401)
    const noTask = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ authorization_details: details(deployManifest().grants) }),
      basic: A,
    })
    expect(noTask.status).toBe(400)
    expect((await noTask.json()).error_description).toBe('task_id: required')
  })

  it('client_credentials refuses grants that need a human, pointing at bc-authorize', async () => {
    const res = await broker.call('POST', '/oauth/token', {
      ...form({ grant_type: 'client_credentials', task_id: 'X', authorization_details: details(deployManifest().grants) }),
      basic: A,
    })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/bc-authorize/)
  })
})
