import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revoke } from '../../src/cli/commands/revoke.js'
import { createContext } from '../../src/cli/context.js'
import { createOutput } from '../../src/cli/output.js'
import { loadPolicy } from '../../src/policy/index.js'
import { normalizePersonId } from '../../src/text/normalize-person-id.js'
import {
  A,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrolCast,
  form,
  ISSUER,
  json,
  makeApprovalBroker,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
  type Cast,
} from '../approvals/helpers.js'

let broker: ApprovalBroker
let cast: Cast

beforeAll(async () => {
  broker = await makeApprovalBroker()
  cast = await enrolCast(broker)
})
afterAll(() => broker?.close())

/** Carol (a release manager) tries to approve a request naming her in another spelling. */
async function carolApproves(requestedBy: string) {
  const pending = await requestApproval(broker, A, deployManifest({ task: { id: `SELF-${requestedBy.length}`, requested_by: requestedBy } }))
  const options = await ceremonyOptions(broker, pending.id, 'approve')
  return submit(broker, pending.id, 'approve', cast.carol.assert(options, { credentialId: cast.keys.carol }))
}

describe('forbid_self_approval compares people, not spellings', () => {
  it.each([
    ['a trailing dot and capitals', 'Carol@Example.com.'],
    ['full-width letters (NFKC)', 'ｃａｒｏｌ@ｅｘａｍｐｌｅ.com'],
    ['an upper-case domain', 'carol@EXAMPLE.COM'],
  ])('refuses carol approving a request by %s', async (_name, requestedBy) => {
    const res = await carolApproves(requestedBy)
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/may not approve it/)
  })

  it('records requested_by in its normal form, so the token and the approval page name one spelling', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'NORMAL-1', requested_by: 'Carol@Example.com.' } }))
    const page = await (await broker.call('GET', `/approve/${pending.id}`)).text()
    expect(page).toContain('carol@example.com')
    expect(page).not.toContain('Carol@Example.com.')
  })

  it.each([
    ['a display-name form', 'Carol <carol@example.com>', /not a display name/],
    ['a quoted display name', '"Carol" carol@example.com', /not a display name/],
    ['two people', 'carol@example.com, bob@example.com', /not a display name or a list/],
    ['no address at all', 'carol', /expected an address/],
    ['a zero-width space', 'car\u200bol@example.com', /invisible/],
    ['a bidi override', '\u202emoc.elpmaxe@lorac', /invisible or bidi/],
    ['an empty domain label', 'carol@example..com', /domain/],
  ])('refuses %s as requested_by with a 400 naming the field, and records nothing', async (_name, requestedBy, problem) => {
    const before = (await broker.approvals.listPending()).length
    const res = await broker.call('POST', '/v1/tokens', { ...json(deployManifest({ task: { id: 'BAD-REQ', requested_by: requestedBy } })), basic: A })
    expect(res.status).toBe(400)
    const { error_description } = await res.json()
    expect(error_description).toMatch(/^task\.requested_by: /)
    expect(error_description).toMatch(problem)
    const ciba = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'BAD-REQ', requested_by: requestedBy, authorization_details: JSON.stringify(deployManifest().grants) }),
      basic: A,
    })
    expect(ciba.status).toBe(400)
    expect((await ciba.json()).error_description).toMatch(/^requested_by: /)
    expect((await broker.approvals.listPending()).length).toBe(before)
  })

  it('requires requested_by (400) for a rule that forbids self-approval, on both endpoints', async () => {
    const before = (await broker.approvals.listPending()).length
    const res = await broker.call('POST', '/v1/tokens', { ...json(deployManifest({ task: { id: 'ANON-1' } })), basic: A })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/^requested_by: required: rule deploy-prod forbids self-approval/)
    const ciba = await broker.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'ANON-2', authorization_details: JSON.stringify(deployManifest().grants) }),
      basic: A,
    })
    expect(ciba.status).toBe(400)
    expect((await ciba.json()).error_description).toMatch(/^requested_by: required/)
    expect((await broker.approvals.listPending()).length).toBe(before)
  })

  it('normalises approver group members when the policy loads, and counts spellings of one person once', () => {
    const policy = (members: string) => `
version: 1
clients: []
approver_groups: [ { id: g, members: [${members}] } ]
rules: []
`
    expect(loadPolicy(policy('"Carol@Example.COM.", bob@example.com')).approverGroups.get('g')?.members).toEqual(['carol@example.com', 'bob@example.com'])
    expect(() => loadPolicy(policy('carol@example.com, "CAROL@example.com."'))).toThrow(/members\[1\]: duplicate member/)
    expect(() => loadPolicy(policy('"Carol <carol@example.com>"'))).toThrow(/approver_groups\[0\]\.members\[0\]: expected a bare address/)
  })

  it('enrols, filters keys and revokes --approver under the same normal form', async () => {
    const keys = await broker.call('GET', `/admin/approvers/keys?approver=${encodeURIComponent('Alice@EXAMPLE.com.')}`, { bearer: ADMIN_TOKEN })
    expect((await keys.json()).keys.map((k: { approver: string }) => k.approver)).toEqual(['alice@example.com'])
    const invite = await broker.call('POST', '/admin/approvers/invites', { ...json({ approver: 'ALICE@example.com', group: 'release-managers' }), bearer: ADMIN_TOKEN })
    expect(invite.status).toBe(201)
    expect((await invite.json()).approver).toBe('alice@example.com')

    // A grant alice approved, then `writ revoke --approver` in another spelling.
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REVOKE-ALICE', requested_by: 'carol@example.com' } }))
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    expect((await submit(broker, pending.id, 'approve', cast.alice.assert(options, { credentialId: cast.keys.alice }))).status).toBe(200)
    broker.clock.advance(5000)
    const token = await poll(broker, A, pending.auth_req_id)
    expect(token.status).toBe(200)
    const grant = (await token.json()).grant_id as string

    let out = ''
    const sink = { isTTY: false, write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream
    const ctx = createContext({
      env: { WRIT_URL: ISSUER, WRIT_ADMIN_TOKEN: ADMIN_TOKEN },
      out: createOutput({ json: false, stdout: sink, stderr: sink, env: { NO_COLOR: '1' } }),
      fetch: (async (input: string | URL | Request, init?: RequestInit) => broker.app.request(String(input), init)) as typeof fetch,
    })
    await revoke(ctx, undefined, { approver: 'Alice@Example.COM.', reason: 'key lost', yes: true })
    expect(out).toBe('revoked 1 grant\n')
    expect((await broker.store.getGrant('agent-a', grant)).state).toBe('revoked')
  })

  it('has one normal form', () => {
    expect(normalizePersonId('Carol@Example.com.', { address: true })).toEqual({ id: 'carol@example.com' })
    expect(normalizePersonId('Straße@example.com', { address: true })).toEqual({ id: 'strasse@example.com' })
    expect(normalizePersonId('carol@exämple.com', { address: true })).toEqual({ id: 'carol@xn--exmple-cua.com' })
    expect(normalizePersonId('alice')).toEqual({ id: 'alice' })
    expect(normalizePersonId('alice', { address: true })).toHaveProperty('problem')
  })
})
