import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditQuery } from '../../src/audit/audit-index-refs.js'
import type { AuditEvent } from '../../src/audit/types.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  ADMIN_TOKEN,
  B,
  ceremonyOptions,
  deployManifest,
  enrolCast,
  json,
  makeApprovalBroker,
  migrateManifest,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
  type Cast,
} from '../approvals/helpers.js'

/*
 * The approver inbox over HTTP: sign-in with an enrolled key, the session cookie, the list, and
 * what the session cannot do. The issuer is https, so the cookie is `__Host-writ_inbox`.
 */

const COOKIE = '__Host-writ_inbox'

let broker: ApprovalBroker
let cast: Cast

beforeAll(async () => {
  broker = await makeApprovalBroker()
  cast = await enrolCast(broker)
})
afterAll(() => broker.close())

async function signInOptions() {
  const res = await broker.call('POST', '/approve/sign-in/options', json({}))
  expect(res.status).toBe(200)
  return res.json()
}

/** Signs in with `auth`; returns the response and the session token from its cookie. */
async function signIn(auth: SoftAuthenticator, overrides = {}) {
  const assertion = auth.assert(await signInOptions(), overrides)
  const res = await broker.call('POST', '/approve/sign-in/verify', json(assertion))
  const cookie = res.headers.get('set-cookie') ?? ''
  const token = new RegExp(`^${COOKIE}=([^;]+)`).exec(cookie)?.[1]
  return { res, cookie, token, assertion }
}

async function tokenOf(auth: SoftAuthenticator): Promise<string> {
  const { res, token } = await signIn(auth)
  expect(res.status).toBe(200)
  return token!
}

const withSession = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), cookie: `${COOKIE}=${token}` },
})

/** The approval ids the inbox lists, in order, or null when it shows the sign-in page. */
async function inbox(token: string): Promise<string[] | null> {
  const res = await broker.call('GET', '/approve', withSession(token))
  expect(res.status).toBe(200)
  const page = await res.text()
  if (page.includes('data-ceremony="sign-in"')) return null
  expect(page).toContain('data-ceremony="inbox"')
  return [...page.matchAll(/data-approval="([^"]+)"/g)].map((m) => m[1]!)
}

const auditEvents = async (type: AuditEvent['type'], query: AuditQuery): Promise<AuditEvent[]> =>
  (await broker.audit.log!.find(query)).filter((e) => e.type === type)

describe('approver inbox sign-in', () => {
  it('shows the sign-in page without a session, with the pages\' CSP', async () => {
    const res = await broker.call('GET', '/approve')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const page = await res.text()
    expect(page).toContain('data-ceremony="sign-in"')
    expect(page).not.toMatch(/<script>/)
  })

  it('asks for a user-verified discoverable key over a fresh challenge', async () => {
    const a = await signInOptions()
    const b = await signInOptions()
    expect(a).toMatchObject({ rpId: 'writ.test', userVerification: 'required', allowCredentials: [] })
    expect(a.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(b.challenge).not.toBe(a.challenge)
  })

  it('signs in with an enrolled key: a short HttpOnly, Secure, SameSite=Strict __Host- cookie, audited', async () => {
    const { res, cookie, token } = await signIn(cast.alice)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toEqual({ approver: 'alice@example.com', expires_at: Math.floor(broker.clock() / 1000) + 600 })
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(cookie).toContain('Max-Age=600')
    expect(cookie).toContain('Path=/')
    expect(cookie).toContain('HttpOnly')
    expect(cookie).toContain('Secure')
    expect(cookie).toContain('SameSite=Strict')
    expect(await inbox(token!)).not.toBeNull()
    const events = await auditEvents('approver.signed_in', { approver: 'alice@example.com' })
    expect(events.at(-1)).toMatchObject({
      actor: 'approver:alice@example.com',
      approver: 'alice@example.com',
      credential_id: cast.keys.alice,
      detail: { expires_at: body.expires_at },
    })
  })

  it('refuses a reused sign-in challenge, even signed afresh', async () => {
    const options = await signInOptions()
    const res = await broker.call('POST', '/approve/sign-in/verify', json(cast.bob.assert(options)))
    expect(res.status).toBe(200)
    // A new assertion (its counter ahead) over the same challenge.
    const again = await broker.call('POST', '/approve/sign-in/verify', json(cast.bob.assert(options)))
    expect(again.status).toBe(403)
    expect(again.headers.get('set-cookie')).toBeNull()
    expect((await again.json()).error).toBe('access_denied')
  })

  it('refuses an expired sign-in challenge', async () => {
    const options = await signInOptions()
    broker.clock.advance(181_000)
    const res = await broker.call('POST', '/approve/sign-in/verify', json(cast.bob.assert(options)))
    expect(res.status).toBe(403)
    expect(res.headers.get('set-cookie')).toBeNull()
  })

  it('refuses an assertion without user verification, or for another origin', async () => {
    for (const overrides of [{ uv: false }, { origin: 'https://evil.test' }]) {
      const { res, token } = await signIn(cast.bob, overrides)
      expect(res.status).toBe(403)
      expect(token).toBeUndefined()
    }
  })

  it('refuses malformed bodies with 400 naming the problem', async () => {
    const notJson = await broker.call('POST', '/approve/sign-in/verify', {
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    })
    expect(notJson.status).toBe(400)
    expect((await notJson.json()).error_description).toContain('content-type')
    const bad = await broker.call('POST', '/approve/sign-in/verify', json({ id: 'x' }))
    expect(bad.status).toBe(400)
  })

  it('a session token that was never issued, or garbage, shows the sign-in page', async () => {
    expect(await inbox('A'.repeat(43))).toBeNull()
    expect(await inbox('not a token')).toBeNull()
  })

  it('ends at its expiry', async () => {
    const token = await tokenOf(cast.bob)
    expect(await inbox(token)).not.toBeNull()
    broker.clock.advance(601_000)
    expect(await inbox(token)).toBeNull()
  })

  it('signing out ends the session and clears the cookie', async () => {
    const token = await tokenOf(cast.bob)
    const res = await broker.call('POST', '/approve/sign-out', withSession(token, json({})))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ signed_out: true })
    expect(res.headers.get('set-cookie')).toMatch(new RegExp(`^${COOKIE}=;.*Max-Age=0`))
    expect(await inbox(token)).toBeNull()
  })
})

describe('approver inbox list', () => {
  it('lists exactly the pending requests one may approve, newest first, none of other groups', async () => {
    const first = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-100', requested_by: 'carol@example.com' } }))
    broker.clock.advance(2000)
    const migration = await requestApproval(broker, A, migrateManifest())
    broker.clock.advance(2000)
    const second = await requestApproval(broker, B, deployManifest({ task: { id: 'REL-101', requested_by: 'carol@example.com' } }))

    // alice (release-managers): both deploys, newest first; not the dbas' migration.
    expect(await inbox(await tokenOf(cast.alice))).toEqual([second.id, first.id])
    // carol asked for both deploys and the rule forbids self-approval: nothing.
    expect(await inbox(await tokenOf(cast.carol))).toEqual([])
    // dana (dbas): only the migration.
    const dana = await tokenOf(cast.dana)
    expect(await inbox(dana)).toEqual([migration.id])

    // Once dana has approved (1 of 2), the migration leaves her inbox and stays in erin's.
    const options = await ceremonyOptions(broker, migration.id, 'approve')
    expect((await submit(broker, migration.id, 'approve', cast.dana.assert(options))).status).toBe(200)
    expect(await inbox(dana)).toEqual([])
    expect(await inbox(await tokenOf(cast.erin))).toEqual([migration.id])

    // A decided request leaves every inbox; the page links each item to its approval page.
    const deny = await ceremonyOptions(broker, first.id, 'deny')
    expect((await submit(broker, first.id, 'deny', cast.bob.assert(deny))).status).toBe(200)
    const page = await (await broker.call('GET', '/approve', withSession(await tokenOf(cast.alice)))).text()
    expect([...page.matchAll(/data-approval="([^"]+)"/g)].map((m) => m[1])).toEqual([second.id])
    expect(page).toContain(`href="/approve/${second.id}"`)
    expect(page).toContain('1 request waiting for you')
  })

  it('escapes request data in the list', async () => {
    const hostile = await requestApproval(
      broker,
      A,
      deployManifest({ task: { id: 'REL-<b>x</b>', purpose: '<script>alert(1)</script> & "q"', requested_by: 'carol@example.com' } }),
    )
    const page = await (await broker.call('GET', '/approve', withSession(await tokenOf(cast.bob)))).text()
    expect(page).toContain(`data-approval="${hostile.id}"`)
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;')
    expect(page).toContain('REL-&lt;b&gt;x&lt;/b&gt;')
    expect(page).not.toContain('<script>alert(1)')
    expect(page).not.toContain('<b>x</b>')
  })
})

describe('what an inbox session cannot do', () => {
  it('the session cookie alone cannot approve: the approval routes ignore it and need their own assertion', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-200', requested_by: 'carol@example.com' } }))
    const { res, token, assertion } = await signIn(cast.alice)
    expect(res.status).toBe(200)

    // The session with no assertion, with an empty one, and with the sign-in assertion itself.
    const attempts = [
      await broker.call('POST', `/approve/${pending.id}/verify`, withSession(token!, json({}))),
      await broker.call('POST', `/approve/${pending.id}/verify`, withSession(token!, json(assertion))),
      await broker.call('POST', `/approve/${pending.id}/deny`, withSession(token!, json(assertion))),
    ]
    expect(attempts.map((r) => r.status)).toEqual([400, 403, 403])
    // The session plus a fresh assertion by alice over the sign-in challenge of another sign-in.
    const other = cast.alice.assert(await signInOptions())
    const signedForSignIn = await broker.call('POST', `/approve/${pending.id}/verify`, withSession(token!, json(other)))
    expect(signedForSignIn.status).toBe(403)

    const polled = await poll(broker, A, pending.auth_req_id)
    expect((await polled.json()).error).toBe('authorization_pending')
    expect(await auditEvents('approval.approved', { approvalId: pending.id })).toEqual([])

    // The request's own ceremony still works for alice.
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const approved = await submit(broker, pending.id, 'approve', cast.alice.assert(options))
    expect(approved.status).toBe(200)
    expect((await approved.json()).status).toBe('approved')
  })

  it('an approval challenge does not sign in, and a sign-in challenge does not approve', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-201', requested_by: 'carol@example.com' } }))
    // alice signs the approval challenge; posted as a sign-in, it is refused and opens nothing.
    const approval = cast.alice.assert(await ceremonyOptions(broker, pending.id, 'approve'))
    const asSignIn = await broker.call('POST', '/approve/sign-in/verify', json(approval))
    expect(asSignIn.status).toBe(403)
    expect(asSignIn.headers.get('set-cookie')).toBeNull()
    expect((await asSignIn.json()).error_description).toBe('the security key response was not accepted for signing in')

    // alice signs a sign-in challenge; posted as an approval, it is refused and approves nothing.
    const signInAssertion = cast.alice.assert(await signInOptions())
    const asApproval = await submit(broker, pending.id, 'approve', signInAssertion)
    expect(asApproval.status).toBe(403)
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(400)

    // Neither refusal used the other's challenge up: each still does what it was made for.
    const approved = await submit(broker, pending.id, 'approve', approval)
    expect(approved.status).toBe(200)
    expect((await approved.json()).status).toBe('approved')
    expect((await broker.call('POST', '/approve/sign-in/verify', json(signInAssertion))).status).toBe(200)
  })
})

describe('a disabled key and its sessions', () => {
  it('cannot sign in, and its session stops working at once', async () => {
    const local = await makeApprovalBroker()
    try {
      const people = await enrolCast(local)
      const optionsFor = async () => (await local.call('POST', '/approve/sign-in/options', json({}))).json()
      const signInLocal = async () => {
        const res = await local.call('POST', '/approve/sign-in/verify', json(people.bob.assert(await optionsFor())))
        return { res, token: new RegExp(`^${COOKIE}=([^;]+)`).exec(res.headers.get('set-cookie') ?? '')?.[1] }
      }
      const listed = async (token: string) =>
        (await (await local.call('GET', '/approve', { headers: { cookie: `${COOKIE}=${token}` } })).text()).includes(
          'data-ceremony="inbox"',
        )

      const { res, token } = await signInLocal()
      expect(res.status).toBe(200)
      expect(await listed(token!)).toBe(true)

      const disabled = await local.call('POST', `/admin/approvers/keys/${people.keys.bob}/disable`, {
        ...json({ reason: 'lost on a train' }),
        bearer: ADMIN_TOKEN,
      })
      expect(disabled.status).toBe(200)
      expect(await listed(token!)).toBe(false)

      const again = await signInLocal()
      expect(again.res.status).toBe(403)
      expect(again.token).toBeUndefined()
      const refused = (await local.audit.log!.find({ approver: 'bob@example.com' })).filter(
        (e) => e.type === 'approver.sign_in_refused',
      )
      expect(refused).toEqual([
        expect.objectContaining({ approver: 'bob@example.com', credential_id: people.keys.bob, reason: 'key is flagged (disabled)' }),
      ])
    } finally {
      await local.close()
    }
  })

  it('a locked approver cannot sign in, and their session shows nothing while the lock stands', async () => {
    const local = await makeApprovalBroker()
    try {
      const people = await enrolCast(local)
      const options = await (await local.call('POST', '/approve/sign-in/options', json({}))).json()
      const res = await local.call('POST', '/approve/sign-in/verify', json(people.erin.assert(options)))
      const token = new RegExp(`^${COOKIE}=([^;]+)`).exec(res.headers.get('set-cookie') ?? '')?.[1]
      expect(token).toBeDefined()
      const lock = await local.call('POST', '/admin/locks', { ...json({ approver: 'erin@example.com', reason: 'investigation' }), bearer: ADMIN_TOKEN })
      expect(lock.status).toBe(201)
      const page = await (await local.call('GET', '/approve', { headers: { cookie: `${COOKIE}=${token}` } })).text()
      expect(page).toContain('data-ceremony="sign-in"')
      const again = await local.call(
        'POST',
        '/approve/sign-in/verify',
        json(people.erin.assert(await (await local.call('POST', '/approve/sign-in/options', json({}))).json())),
      )
      expect(again.status).toBe(403)
    } finally {
      await local.close()
    }
  })
})
