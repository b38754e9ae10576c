import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revoke } from '../../src/cli/commands/revoke.js'
import { createContext } from '../../src/cli/context.js'
import { createOutput } from '../../src/cli/output.js'
import { decodeJwt } from 'jose'
import { loadPolicy, PolicyError } from '../../src/policy/index.js'
import { normalizePersonId } from '../../src/text/normalize-person-id.js'
import {
  A,
  ADMIN_TOKEN,
  approvalPolicyText,
  ceremonyOptions,
  deployManifest,
  enrol,
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
    expect((await broker.store.grants.getGrant('agent-a', grant)).state).toBe('revoked')
  })

  it('has one normal form', () => {
    expect(normalizePersonId('Carol@Example.com.', { address: true })).toEqual({ id: 'carol@example.com' })
    expect(normalizePersonId('Straße@example.com', { address: true })).toEqual({ id: 'strasse@example.com' })
    expect(normalizePersonId('carol@exämple.com', { address: true })).toEqual({ id: 'carol@xn--exmple-cua.com' })
    expect(normalizePersonId('alice')).toEqual({ id: 'alice' })
    expect(normalizePersonId('alice', { address: true })).toHaveProperty('problem')
  })
})

/**
 * A group member may be a plain name (`carol`), but `requested_by` must be an address, and a plain
 * name never equals an address: forbid_self_approval would pass silently and carol would approve
 * her own request. So a group that a self-approval-forbidding rule draws on must list addresses.
 */
describe('forbid_self_approval with plain-name group members', () => {
  /** The shipped test policy with the release managers named by plain names. */
  const plainNamePolicy = async () => {
    const text = (await approvalPolicyText()).replace(
      'members: [alice@example.com, bob@example.com, carol@example.com]',
      'members: [alice, bob, carol]',
    )
    expect(text).toContain('members: [alice, bob, carol]')
    return text
  }

  it('refuses the policy at load, naming the group and every plain-name member, so carol never approves her own request', async () => {
    const policyText = await plainNamePolicy()
    let started: ApprovalBroker | undefined
    let refusal: unknown
    try {
      started = await makeApprovalBroker({ policyText })
    } catch (err) {
      refusal = err
    }
    if (started !== undefined) {
      // The attack, should such a policy ever load: carol asks for the deploy and approves it herself.
      const running = started
      try {
        const carol = running.authenticator()
        await enrol(running, carol, 'carol', 'release-managers')
        const pending = await requestApproval(
          running,
          A,
          deployManifest({ task: { id: 'REL-9', purpose: 'deploy', requested_by: 'carol@example.com' } }),
        )
        const options = await ceremonyOptions(running, pending.id, 'approve')
        const verdict = (await submit(running, pending.id, 'approve', carol.assert(options))).status
        running.clock.advance(6_000)
        const collected = await poll(running, A, pending.auth_req_id)
        const body = await collected.json()
        const approval = collected.status === 200 ? decodeJwt(body.access_token).approval : null
        expect({ verdict, token: collected.status, approval }).toEqual({ verdict: 403, token: 400, approval: null })
      } finally {
        await running.close()
      }
    }
    expect(refusal).toBeInstanceOf(PolicyError)
    expect((refusal as PolicyError).problems).toEqual(
      ['alice', 'bob', 'carol'].map(
        (name, k) =>
          `approver_groups[0].members[${k}]: group "release-managers" member "${name}" must be an address ` +
          '(like carol@example.com), because rule "deploy-prod" forbids self-approval (it compares approvers with task.requested_by)',
      ),
    )
  })

  it('refuses plain names when the rule forbids self-approval by default, and allows them where no rule does', async () => {
    const policy = (approval: string) => `
version: 1
clients: []
approver_groups:
  - { id: ops, members: [alice, bob@example.com] }
  - { id: other, members: [dave] }
rules:
  - { id: r, match: { type: deploy, actions: [create] }, max_ttl: 10m, approval: ${approval} }
`
    expect(() => loadPolicy(policy('{ approvers: 1, from: ops }'))).toThrow(
      /approver_groups\[0\]\.members\[0\]: group "ops" member "alice" must be an address .*rule "r" forbids self-approval/,
    )
    const allowed = loadPolicy(policy('{ approvers: 1, from: ops, forbid_self_approval: false }'))
    expect(allowed.approverGroups.get('ops')?.members).toEqual(['alice', 'bob@example.com'])
    expect(allowed.approverGroups.get('other')?.members).toEqual(['dave'])
  })
})
