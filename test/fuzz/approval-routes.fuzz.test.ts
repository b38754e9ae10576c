import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrol,
  json,
  makeApprovalBroker,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { fuzz, hostileJson, hostileText } from './fuzz-runs.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator
let pending: Awaited<ReturnType<typeof requestApproval>>

beforeAll(async () => {
  broker = await makeApprovalBroker()
  alice = broker.authenticator()
  await enrol(broker, alice, 'alice@example.com', 'release-managers')
  pending = await requestApproval(broker, A, deployManifest())
})
afterAll(() => broker?.close())

const liveGrants = () => broker.store.grants.countLiveGrants('agent-a')

/** The answer to a hostile ceremony body: a 4xx RFC 6749 JSON error, and no grant minted. */
async function expectRefused(res: Response, context: string): Promise<void> {
  const text = await res.text()
  expect(res.status, `${res.status} ${text} for ${context}`).toBeGreaterThanOrEqual(400)
  expect(res.status, `${res.status} ${text} for ${context}`).toBeLessThan(500)
  const body = JSON.parse(text)
  expect(typeof body.error).toBe('string')
  expect(typeof body.error_description).toBe('string')
}

const b64u = fc.oneof(fc.base64String({ maxLength: 200 }).map((s) => s.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_')), hostileText(60))
const value = fc.oneof(b64u, hostileJson())

/** Something shaped like a PublicKeyCredential, with any member missing or wrong. */
const credentialLike = fc.record(
  {
    id: value,
    rawId: value,
    type: fc.oneof(fc.constant('public-key'), hostileText(20)),
    response: fc.oneof(
      fc.record(
        {
          clientDataJSON: value,
          authenticatorData: value,
          signature: value,
          userHandle: value,
          attestationObject: value,
          transports: fc.array(hostileText(10)),
        },
        { requiredKeys: [] },
      ),
      hostileJson(),
    ),
    clientExtensionResults: hostileJson(),
    authenticatorAttachment: hostileText(20),
  },
  { requiredKeys: [] },
)

/** Flips bits of one byte of a base64url field, so the value decodes but means something else. */
function flip(field: string, index: number, mask: number): string {
  const bytes = Buffer.from(field, 'base64url')
  if (bytes.length === 0) return 'AA'
  bytes[index % bytes.length]! ^= mask
  return bytes.toString('base64url')
}

const tampering = fc.record({
  field: fc.constantFrom('clientDataJSON', 'authenticatorData', 'signature'),
  index: fc.nat(),
  mask: fc.integer({ min: 1, max: 255 }),
  replace: fc.option(b64u, { nil: undefined, freq: 4 }),
})

describe('fuzz: WebAuthn payloads on the approval routes', () => {
  it('refuses every malformed or tampered assertion, leaves the request pending and the key usable', async () => {
    const before = await liveGrants()
    await fuzz(
      '/approve/{id}/{options,verify,deny} (hostile bodies)',
      80,
      fc.tuple(
        fc.constantFrom('options', 'verify', 'deny'),
        fc.oneof(hostileText(300), credentialLike.map((c) => JSON.stringify(c)), hostileJson().map((v) => JSON.stringify(v) ?? '')),
        fc.oneof({ weight: 4, arbitrary: fc.constant(pending.id) }, hostileText(40).map((id) => encodeURIComponent(id) || 'x')),
      ),
      async ([route, body, id]) => {
        // options answers 200 to a well-formed {action}: only malformed ones are sent here.
        if (route === 'options' && /^\s*\{\s*"action"\s*:\s*"(approve|deny)"/.test(body)) return
        const res = await broker.call('POST', `/approve/${id}/${route}`, { headers: { 'content-type': 'application/json' }, body })
        await expectRefused(res, `${route} ${id} ${body.slice(0, 300)}`)
      },
    )
    await fuzz(
      '/approve/{id}/{verify,deny} (tampered real assertions)',
      60,
      fc.tuple(fc.constantFrom<'approve' | 'deny'>('approve', 'deny'), tampering),
      async ([action, t]) => {
        const options = await ceremonyOptions(broker, pending.id, action)
        const assertion = alice.assert(options)
        const response = assertion.response as unknown as Record<string, string>
        response[t.field] = t.replace ?? flip(response[t.field]!, t.index, t.mask)
        await expectRefused(await submit(broker, pending.id, action, assertion), `${action} ${JSON.stringify(t)}`)
      },
    )
    expect(await liveGrants()).toBe(before)
    // Nothing was decided: the agent is still told to wait.
    const waiting = await poll(broker, A, pending.auth_req_id)
    expect(['authorization_pending', 'slow_down']).toContain((await waiting.json()).error)
    // And the request and key still work: a genuine assertion approves it.
    const approved = await submit(broker, pending.id, 'approve', alice.assert(await ceremonyOptions(broker, pending.id, 'approve')))
    expect(approved.status).toBe(200)
  })
})

describe('fuzz: WebAuthn payloads on the inbox sign-in', () => {
  it('refuses every malformed or tampered sign-in assertion with no session, and the key still signs in', async () => {
    const signInOptions = async () => (await broker.call('POST', '/approve/sign-in/options', json({}))).json()
    await fuzz(
      '/approve/sign-in/verify (hostile bodies)',
      60,
      fc.oneof(hostileText(300), credentialLike.map((c) => JSON.stringify(c)), hostileJson().map((v) => JSON.stringify(v) ?? '')),
      async (body) => {
        const res = await broker.call('POST', '/approve/sign-in/verify', { headers: { 'content-type': 'application/json' }, body })
        expect(res.headers.get('set-cookie')).toBeNull()
        await expectRefused(res, body.slice(0, 300))
      },
    )
    await fuzz('/approve/sign-in/verify (tampered real assertions)', 40, tampering, async (t) => {
      const assertion = alice.assert(await signInOptions())
      const response = assertion.response as unknown as Record<string, string>
      response[t.field] = t.replace ?? flip(response[t.field]!, t.index, t.mask)
      const res = await broker.call('POST', '/approve/sign-in/verify', json(assertion))
      expect(res.headers.get('set-cookie')).toBeNull()
      await expectRefused(res, JSON.stringify(t))
    })
    const res = await broker.call('POST', '/approve/sign-in/verify', json(alice.assert(await signInOptions())))
    expect(res.status).toBe(200)
    expect(res.headers.get('set-cookie')).toMatch(/^__Host-writ_inbox=/)
  })
})

describe('fuzz: WebAuthn payloads on the enrolment routes', () => {
  it('refuses every malformed or tampered registration and keeps the invite usable, then uses it once', async () => {
    const invite = await broker.call('POST', '/admin/approvers/invites', {
      ...json({ approver: 'bob@example.com', group: 'release-managers' }),
      bearer: ADMIN_TOKEN,
    })
    const path = new URL((await invite.json()).invite_url).pathname
    const bob = broker.authenticator()
    const bodies = fc.oneof(hostileText(300), credentialLike.map((c) => JSON.stringify(c)))
    await fuzz('/enroll/{invite}/verify (hostile bodies)', 60, bodies, async (body) => {
      await broker.call('POST', `${path}/options`, json({}))
      const res = await broker.call('POST', `${path}/verify`, { headers: { 'content-type': 'application/json' }, body })
      await expectRefused(res, body.slice(0, 300))
    })
    await fuzz(
      '/enroll/{invite}/verify (tampered real registrations)',
      40,
      fc.record({ field: fc.constantFrom('clientDataJSON', 'attestationObject'), index: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      async (t) => {
        const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
        const registration = bob.register(options)
        const response = registration.response as unknown as Record<string, string>
        response[t.field] = flip(response[t.field]!, t.index, t.mask)
        await expectRefused(await broker.call('POST', `${path}/verify`, json(registration)), JSON.stringify(t))
      },
    )
    const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
    const registration = bob.register(options)
    expect((await broker.call('POST', `${path}/verify`, json(registration))).status).toBe(200)
    // Single use: the same invite, even with a fresh valid registration, is gone.
    expect((await broker.call('POST', `${path}/options`, json({}))).status).toBe(404)
    expect((await broker.call('POST', `${path}/verify`, json(registration))).status).toBe(404)
  })
})
