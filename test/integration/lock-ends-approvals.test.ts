/**
 * A lock that revokes (`writ lock --client C`, `--approver A`, the default) ends the target's
 * approval requests not yet collected, as every revocation scope does: once the lock ends (`--ttl`,
 * or `writ unlock`), a request approved before the lock mints nothing.
 */
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

let broker: ApprovalBroker

beforeAll(async () => {
  broker = await makeApprovalBroker()
}, 60_000)

afterAll(async () => {
  await broker?.close()
})

describe('a lock that revokes also ends approval requests not yet collected', () => {
  it('client lock with a TTL: the approval made before it mints nothing after it ends', async () => {
    const alice = broker.authenticator()
    await enrol(broker, alice, 'alice@example.com', 'release-managers')
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-77', purpose: 'deploy', requested_by: 'carol@example.com' } }))
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    expect((await submit(broker, pending.id, 'approve', alice.assert(options))).status).toBe(200)

    // The incident: the admin locks the client for 60 s (it revokes by default).
    const lock = await broker.call('POST', '/admin/locks', {
      ...json({ client_id: 'agent-a', reason: 'incident', ttl_seconds: 60 }),
      bearer: ADMIN_TOKEN,
    })
    expect(lock.status).toBe(201)
    broker.clock.advance(6_000)
    expect((await poll(broker, A, pending.auth_req_id)).status).not.toBe(200)

    // The lock ends; the approval (timeout 300 s) has not expired.
    broker.clock.advance(61_000)
    const res = await poll(broker, A, pending.auth_req_id)
    const body = await res.json()
    const approval = res.status === 200 ? decodeJwt(body.access_token).approval : undefined
    expect({ status: res.status, error: body.error, approval }).toEqual({ status: 400, error: 'access_denied', approval: undefined })
  })
})
