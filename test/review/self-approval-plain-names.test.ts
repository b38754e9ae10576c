/**
 * Review finding: `forbid_self_approval` is a silent no-op when the group's members are plain
 * names. README: "`requested_by` must be an address …; a group member may also be a plain name
 * (`alice`)". The self-approval check compares the normal forms of the two, and a plain name never
 * equals an address, so the person who asked for a task approves it alone. The policy loads
 * without a word. Either plain names must be refused in groups a self-approval-forbidding rule
 * draws on, or the policy must say how a member's name maps to the address `requested_by` carries.
 */
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadPolicy } from '../../src/policy/index.js'
import {
  A,
  approvalPolicyText,
  ceremonyOptions,
  deployManifest,
  enrol,
  makeApprovalBroker,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'

let broker: ApprovalBroker
let policyText: string

beforeAll(async () => {
  // The shipped test policy, with the release managers named by plain names (as the README allows).
  policyText = (await approvalPolicyText()).replace(
    'members: [alice@example.com, bob@example.com, carol@example.com]',
    'members: [alice, bob, carol]',
  )
  expect(policyText).toContain('members: [alice, bob, carol]')
}, 60_000)

afterAll(async () => {
  await broker?.close()
})

describe('forbid_self_approval with plain-name members', () => {
  it('the requester cannot approve their own request (or the policy is refused at load)', async () => {
    let loaded = true
    try {
      loadPolicy(policyText)
    } catch {
      loaded = false
    }
    // A fix that refuses this policy at load passes here.
    if (!loaded) return
    broker = await makeApprovalBroker({ policyText })
    const carol = broker.authenticator()
    await enrol(broker, carol, 'carol', 'release-managers')
    // Carol asks for the deploy (requested_by must be an address) …
    const pending = await requestApproval(
      broker,
      A,
      deployManifest({ task: { id: 'REL-9', purpose: 'deploy', requested_by: 'carol@example.com' } }),
    )
    // … and approves it herself, with her own key.
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    const res = await submit(broker, pending.id, 'approve', carol.assert(options))
    const verdict = res.status
    broker.clock.advance(6_000)
    const collected = await poll(broker, A, pending.auth_req_id)
    const body = await collected.json()
    const approvers = collected.status === 200 ? (decodeJwt(body.access_token).approval as { approvers: unknown[] }) : null
    // Today: verdict 200 and a token whose approval names carol as its only approver.
    expect({ verdict, token: collected.status, approvers }).toEqual({ verdict: 403, token: 400, approvers: null })
  })
})
