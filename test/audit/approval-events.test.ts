import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditQuery } from '../../src/audit/audit-index-refs.js'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import type { AuditEvent, AuditEventType } from '../../src/audit/types.js'
import { manualClock } from '../../src/clock.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  AAGUID,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrol,
  enrolCast,
  json,
  makeApprovalBroker,
  migrateManifest,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { testKeys } from './helpers.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator
let bob: SoftAuthenticator
let carol: SoftAuthenticator
let dana: SoftAuthenticator
let erin: SoftAuthenticator
let aliceKey: string
let bobKey: string
let danaKey: string
let erinKey: string

beforeAll(async () => {
  broker = await makeApprovalBroker()
  const cast = await enrolCast(broker)
  ;({ alice, bob, carol, dana, erin } = cast)
  ;({ alice: aliceKey, bob: bobKey, dana: danaKey, erin: erinKey } = cast.keys)
})
afterAll(() => broker?.close())

const find = (query: AuditQuery): Promise<AuditEvent[]> => broker.audit.log!.find(query)
const ofType = (events: AuditEvent[], type: AuditEventType) => events.filter((e) => e.type === type)
const types = (events: AuditEvent[]) => events.map((e) => e.type)

/** Options for approving `id`, answered by `auth` (with overrides). */
async function approveWith(auth: SoftAuthenticator, id: string, overrides = {}) {
  const options = await ceremonyOptions(broker, id, 'approve')
  return submit(broker, id, 'approve', auth.assert(options, overrides))
}

describe('audit of approver enrolment', () => {
  it('records the invite the admin issued and the key the approver enrolled with it', async () => {
    const events = await find({ approver: 'alice@example.com' })
    expect(types(events).slice(0, 2)).toEqual(['approver.invited', 'approver.enrolled'])
    expect(events[0]).toMatchObject({
      actor: 'admin',
      approver: 'alice@example.com',
      detail: { group: 'release-managers', expires_at: expect.any(Number) },
    })
    expect(events[1]).toMatchObject({
      actor: 'approver:alice@example.com',
      approver: 'alice@example.com',
      credential_id: aliceKey,
      aaguid: AAGUID,
      detail: { group: 'release-managers', fmt: 'packed', attestation: 'verified' },
    })
  })

  it('records a key the admin disabled, and the revocation of the grants its owner approved', async () => {
    const frank = broker.authenticator()
    const frankKey = await enrol(broker, frank, 'erin@example.com', 'dbas')
    const pending = await requestApproval(broker, A, migrateManifest())
    expect((await approveWith(dana, pending.id)).status).toBe(200)
    expect((await approveWith(frank, pending.id)).status).toBe(200)
    expect((await poll(broker, A, pending.auth_req_id)).status).toBe(200)

    const res = await broker.call('POST', `/admin/approvers/keys/${frankKey}/disable`, {
      ...json({ reason: 'lost on a train', revoke: true }),
      bearer: ADMIN_TOKEN,
    })
    expect(res.status).toBe(200)
    const { revoked } = await res.json()
    expect(revoked).toBeGreaterThanOrEqual(1)
    const events = await find({ approver: 'erin@example.com' })
    expect(ofType(events, 'approver.key_removed')).toEqual([
      expect.objectContaining({
        actor: 'admin',
        approver: 'erin@example.com',
        credential_id: frankKey,
        aaguid: AAGUID,
        reason: 'lost on a train',
      }),
    ])
    expect(ofType(events, 'grant.revoked')).toEqual([
      expect.objectContaining({
        actor: 'admin',
        scope: 'approver',
        approver: 'erin@example.com',
        reason: 'approver key disabled: lost on a train',
        count: revoked,
      }),
    ])
  })
})

describe('audit of approval requests', () => {
  it('records the request and each vote of an N-of-M approval; the completing vote says so', async () => {
    const pending = await requestApproval(broker, A, migrateManifest())
    const one = await approveWith(dana, pending.id)
    expect(await one.json()).toMatchObject({ status: 'pending', approvals: 1 })
    const two = await approveWith(erin, pending.id, { credentialId: erinKey })
    expect(await two.json()).toMatchObject({ status: 'approved', approvals: 2 })

    const events = await find({ approvalId: pending.id })
    expect(types(events)).toEqual(['approval.requested', 'approval.approved', 'approval.approved'])
    const [requested, first, second] = events
    expect(requested).toMatchObject({
      actor: 'client:agent-a',
      approval: pending.id,
      client: 'agent-a',
      task: 'DB-7',
      manifest_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      rules: ['db-migrate'],
      expires_at: Math.floor(broker.clock() / 1000) + pending.expires_in,
      detail: { needs: ['2 of dbas'], task_purpose: 'Add the orders index', requested_by: 'frank@example.com' },
    })
    const common = {
      approval: pending.id,
      task: 'DB-7',
      client: 'agent-a',
      aaguid: AAGUID,
      manifest_sha256: (requested as { manifest_sha256: string }).manifest_sha256,
    }
    expect(first).toMatchObject({
      ...common,
      actor: 'approver:dana@example.com',
      approver: 'dana@example.com',
      credential_id: danaKey,
      complete: false,
    })
    expect(second).toMatchObject({
      ...common,
      actor: 'approver:erin@example.com',
      approver: 'erin@example.com',
      credential_id: erinKey,
      complete: true,
    })

    // The token issued for it names the same manifest, and its story joins the approval's.
    const token = await poll(broker, A, pending.auth_req_id)
    const grant = (await token.json()).grant_id
    const issued = ofType(await find({ grantId: grant }), 'grant.issued')
    expect(issued).toEqual([expect.objectContaining({ approval: pending.id, manifest_sha256: common.manifest_sha256 })])
  })

  it('records a denial with the denying person and key', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'DENY-1', requested_by: 'carol@example.com' } }))
    const options = await ceremonyOptions(broker, pending.id, 'deny')
    expect((await submit(broker, pending.id, 'deny', bob.assert(options))).status).toBe(200)
    const events = await find({ approvalId: pending.id })
    expect(types(events)).toEqual(['approval.requested', 'approval.denied'])
    expect(events[1]).toMatchObject({
      actor: 'approver:bob@example.com',
      approval: pending.id,
      approver: 'bob@example.com',
      credential_id: bobKey,
      aaguid: AAGUID,
      task: 'DENY-1',
      client: 'agent-a',
    })
  })

  it('records assertions refused from enrolled keys, and nothing for assertions no enrolled key signed', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REJECT-1', requested_by: 'carol@example.com' } }))
    // The requester may not approve; a member of another group is no approver here.
    const self = await approveWith(carol, pending.id)
    expect(self.status).toBe(403)
    const outsider = await approveWith(erin, pending.id, { credentialId: erinKey })
    expect(outsider.status).toBe(403)

    // Anyone's garbage: a signature for another origin, a tampered signature, an unknown key.
    const head = (await broker.audit.log!.head()).seq
    expect((await approveWith(alice, pending.id, { origin: 'https://evil.example' })).status).toBe(403)
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const tampered = alice.assert(options)
    const sig = Buffer.from(tampered.response.signature, 'base64url')
    sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 1, sig.length - 1)
    tampered.response.signature = sig.toString('base64url')
    expect((await submit(broker, pending.id, 'approve', tampered)).status).toBe(403)
    const unknown = alice.assert(await ceremonyOptions(broker, pending.id, 'approve'))
    unknown.id = unknown.rawId = Buffer.from('no such key').toString('base64url')
    expect((await submit(broker, pending.id, 'approve', unknown)).status).toBe(403)
    expect(await broker.audit.log!.read({ fromSeq: head + 1 })).toEqual([])

    const events = await find({ approvalId: pending.id })
    expect(types(events)).toEqual(['approval.requested', 'approval.rejected', 'approval.rejected'])
    expect(events[1]).toMatchObject({
      actor: 'approver:carol@example.com',
      approver: 'carol@example.com',
      aaguid: AAGUID,
      task: 'REJECT-1',
      client: 'agent-a',
      reason: 'self-approval is forbidden by the rule',
      detail: { action: 'approve' },
    })
    expect(events[2]).toMatchObject({
      actor: 'approver:erin@example.com',
      approver: 'erin@example.com',
      credential_id: erinKey,
      reason: 'not an approver for this request',
    })
  })

  it('flags a key whose signature counter goes backwards, and records every later use of it', async () => {
    const cloned = broker.authenticator()
    const key = await enrol(broker, cloned, 'alice@example.com', 'release-managers')
    const first = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(cloned, first.id, { credentialId: key, counter: 10 })).status).toBe(200)
    const second = await requestApproval(broker, A, deployManifest())
    expect((await approveWith(cloned, second.id, { credentialId: key, counter: 9 })).status).toBe(403)
    // A different task: an identical request would join the second, still pending.
    const third = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-43', requested_by: 'carol@example.com' } }))
    expect((await approveWith(cloned, third.id, { credentialId: key, counter: 50 })).status).toBe(403)

    const flagged = ofType(await find({ approver: 'alice@example.com' }), 'approver.key_flagged')
    expect(flagged).toEqual([
      expect.objectContaining({
        actor: 'system',
        approver: 'alice@example.com',
        credential_id: key,
        aaguid: AAGUID,
        reason: 'counter_regression',
        detail: { counter: 9, previous_counter: 10, approval: second.id },
      }),
    ])
    expect(ofType(await find({ approvalId: second.id }), 'approval.rejected')).toEqual([
      expect.objectContaining({
        approver: 'alice@example.com',
        credential_id: key,
        reason: 'signature counter regressed (9 after 10); key flagged',
      }),
    ])
    expect(ofType(await find({ approvalId: third.id }), 'approval.rejected')).toEqual([
      expect.objectContaining({ credential_id: key, reason: 'key is flagged (counter_regression)' }),
    ])
  })

  it('records once that a request expired undecided, whoever finds it expired', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'EXPIRE-1', requested_by: 'carol@example.com' } }))
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const decided = await requestApproval(broker, A, deployManifest({ task: { id: 'EXPIRE-2', requested_by: 'carol@example.com' } }))
    expect((await approveWith(alice, decided.id)).status).toBe(200)
    broker.clock.advance((pending.expires_in + 1) * 1000)

    expect((await (await poll(broker, A, pending.auth_req_id)).json()).error).toBe('expired_token')
    expect((await broker.call('GET', `/approve/${pending.id}`)).status).toBe(200)
    expect((await broker.call('POST', `/approve/${pending.id}/options`, json({ action: 'approve' }))).status).toBe(409)
    expect((await submit(broker, pending.id, 'approve', alice.assert(options))).status).toBe(403)
    broker.clock.advance(10_000)
    expect((await (await poll(broker, A, pending.auth_req_id)).json()).error).toBe('expired_token')

    const expired = ofType(await find({ approvalId: pending.id }), 'approval.expired')
    expect(expired).toEqual([
      expect.objectContaining({ actor: 'system', approval: pending.id, client: 'agent-a', task: 'EXPIRE-1' }),
    ])
    // An approved request that was not collected in time was decided: no expiry event for it.
    expect((await (await poll(broker, A, decided.auth_req_id)).json()).error).toBe('expired_token')
    expect(ofType(await find({ approvalId: decided.id }), 'approval.expired')).toEqual([])
  })
})

describe('audit of approvals when the audit log cannot be written', () => {
  it('tells the approver their approval did not count (503), and the agent gets no token', async () => {
    const clock = manualClock(Date.now())
    const log = createMemoryAuditLog({ clock, issuer: 'https://writ.test', signer: await testKeys(clock) })
    const down = await makeApprovalBroker({ auditLog: log })
    try {
      const key = down.authenticator()
      await enrol(down, key, 'alice@example.com', 'release-managers')
      await log.close()
      // A request is no privilege: it is still made, its event only logged as not written.
      const pending = await requestApproval(down, A, deployManifest())
      const options = await (await down.call('POST', `/approve/${pending.id}/options`, json({ action: 'approve' }))).json()
      const res = await down.call('POST', `/approve/${pending.id}/verify`, json(key.assert(options)))
      expect(res.status).toBe(503)
      expect((await res.json()).error).toBe('temporarily_unavailable')
      const collect = await poll(down, A, pending.auth_req_id)
      expect(collect.status).toBe(503)
      expect(await collect.text()).not.toContain('access_token')
    } finally {
      await down.close()
    }
  })
})

describe('audit of signing key rotation', () => {
  const rotations = async (fromSeq: number) =>
    ofType(await broker.audit.log!.read({ fromSeq }), 'key.rotated')

  it('records rotations the admin asked for, plain or compromised', async () => {
    const head = (await broker.audit.log!.head()).seq
    const before = broker.keys.signingKey().kid
    const plain = await broker.call('POST', '/admin/keys/rotate', { ...json({}), bearer: ADMIN_TOKEN })
    expect(plain.status).toBe(200)
    const middle = broker.keys.signingKey().kid
    const withdrawn = broker.keys.list().map((k) => k.kid)
    // Refused while the previous key still verifies live tokens: nothing rotated.
    expect((await broker.call('POST', '/admin/keys/rotate', { ...json({}), bearer: ADMIN_TOKEN })).status).toBe(400)
    // `force` (which promoted the pre-generated next key) is refused, naming what to use instead.
    const forced = await broker.call('POST', '/admin/keys/rotate', { ...json({ force: true }), bearer: ADMIN_TOKEN })
    expect(forced.status).toBe(400)
    expect((await forced.json()).error_description).toMatch(/^force: .*"compromised": true/)
    const compromised = await broker.call('POST', '/admin/keys/rotate', {
      ...json({ compromised: true }),
      bearer: ADMIN_TOKEN,
    })
    expect(compromised.status).toBe(200)
    expect(await rotations(head + 1)).toEqual([
      expect.objectContaining({ actor: 'admin', kid: middle, previous_kid: before, forced: false }),
      expect.objectContaining({
        actor: 'admin',
        kid: broker.keys.signingKey().kid,
        previous_kid: middle,
        forced: true,
        compromised: true,
        withdrawn_kids: expect.arrayContaining(withdrawn),
      }),
    ])
    const revokedAll = ofType(await broker.audit.log!.read({ fromSeq: head + 1 }), 'grant.revoked')
    expect(revokedAll).toEqual([
      expect.objectContaining({ actor: 'admin', scope: 'all', reason: 'signing keys rotated as compromised' }),
    ])
  })

  it('records a scheduled rotation as made by the system', async () => {
    const head = (await broker.audit.log!.head()).seq
    const before = broker.keys.signingKey().kid
    broker.clock.advance((7 * 24 * 3600 + 1) * 1000)
    await broker.keys.refresh()
    await broker.audit.flush()
    const after = broker.keys.signingKey().kid
    expect(after).not.toBe(before)
    expect(await rotations(head + 1)).toEqual([
      expect.objectContaining({ actor: 'system', kid: after, previous_kid: before, forced: false }),
    ])
  })
})
