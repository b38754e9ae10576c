/**
 * An approval request that the keys enrolled now can never approve is refused at once, saying
 * why, instead of leaving the agent polling for the whole approval timeout while nobody is able
 * to decide. Nothing is stored, announced or left pending for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  deployManifest,
  enrol,
  json,
  makeApprovalBroker,
  migrateManifest,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { seedApproverKey } from '../helpers/approver-key.js'

let broker: ApprovalBroker
let strict: ApprovalBroker

beforeAll(async () => {
  broker = await makeApprovalBroker()
  // Strict attestation with no allowed model: no key can ever be enrolled on this broker.
  strict = await makeApprovalBroker({ config: { approvals: { attestation: { mode: 'strict' } } } })
})
afterAll(async () => {
  await broker?.close()
  await strict?.close()
})

const ask = (on: ApprovalBroker, manifest: unknown) => on.call('POST', '/v1/tokens', { ...json(manifest), basic: A })

async function refusal(on: ApprovalBroker, manifest: unknown): Promise<string> {
  const before = on.webhooks.length
  const res = await ask(on, manifest)
  expect(res.status).toBe(403)
  const body = await res.json()
  expect(body.error).toBe('access_denied')
  expect(await on.approvals.listPending()).toEqual([])
  await new Promise((r) => setTimeout(r, 20))
  expect(on.webhooks.length).toBe(before)
  return body.error_description as string
}

describe('approval requests nobody can approve', () => {
  it('are refused when no approver of the group has a key, naming the rule, the group and the fix', async () => {
    const why = await refusal(broker, deployManifest())
    expect(why).toBe(
      'nobody can approve this request: rule deploy-prod needs 1 approver(s) from group release-managers, ' +
        'and 0 of its members hold an enrolled security key that may approve it (the requester ' +
        'carol@example.com may not); enrol one with `writ approvers invite EMAIL --group release-managers`',
    )
  })

  it('say when the broker cannot enrol any key at all (strict attestation without an allowed model)', async () => {
    const res = await strict.call('POST', '/v1/tokens', { ...json(deployManifest()), basic: A })
    expect(res.status).toBe(403)
    const why = (await res.json()).error_description as string
    expect(why).toMatch(/this broker cannot enrol any key yet: its strict attestation needs approvals\.attestation\.allowedAaguids/)
    expect(why).toMatch(/`writ serve --dev`/)
  })

  it('are refused through CIBA (/oauth/bc-authorize) the same way', async () => {
    const res = await broker.call('POST', '/oauth/bc-authorize', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        task_id: 'REL-1',
        requested_by: 'carol@example.com',
        authorization_details: JSON.stringify(deployManifest().grants),
      }).toString(),
      basic: A,
    })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/^nobody can approve this request: rule deploy-prod/)
  })

  it('do not count the requester when the rule forbids self-approval, nor a disabled key, nor too few people', async () => {
    // Only carol, the requester, holds a key: she may not approve her own request.
    await seedApproverKey(broker.approvals, 'carol@example.com', 'release-managers')
    expect(await refusal(broker, deployManifest())).toMatch(/0 of its members hold .* \(the requester carol@example\.com may not\)/)
    // A key an admin disabled approves nothing.
    const bobs = await seedApproverKey(broker.approvals, 'bob@example.com', 'release-managers')
    await broker.approvals.flagCredential(bobs, { reason: 'disabled', at: 0, detail: 'lost' })
    expect(await refusal(broker, deployManifest())).toMatch(/0 of its members hold/)
    // A two-person rule with one person able to approve can never be met.
    await seedApproverKey(broker.approvals, 'dana@example.com', 'dbas')
    expect(await refusal(broker, migrateManifest())).toMatch(/rule db-migrate needs 2 approver\(s\) from group dbas, and 1 of its members holds/)
  })

  it('are accepted once enough approvers hold a usable key', async () => {
    await enrol(broker, broker.authenticator(), 'alice@example.com', 'release-managers')
    expect((await ask(broker, deployManifest())).status).toBe(202)
    await seedApproverKey(broker.approvals, 'erin@example.com', 'dbas')
    expect((await ask(broker, migrateManifest())).status).toBe(202)
  })
})
