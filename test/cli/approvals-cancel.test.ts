import { serve, type ServerType } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  ADMIN_TOKEN,
  deployManifest,
  enrol,
  json,
  makeApprovalBroker,
  poll,
  requestApproval,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis.js'

let broker: ApprovalBroker
let server: ServerType
let url: string

beforeAll(async () => {
  broker = await makeApprovalBroker()
  await enrol(broker, broker.authenticator(), 'alice@example.com', 'release-managers')
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
})
afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await broker?.close()
})

const admin = () => ({ WRIT_URL: url, WRIT_ADMIN_TOKEN: ADMIN_TOKEN })

describe('POST /admin/approvals/{id}/cancel', () => {
  it('ends an open request (its poll is refused, audited with the reason); 404 once it is not open; 400 without a reason', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-C1', requested_by: 'carol@example.com' } }))
    const noReason = await broker.call('POST', `/admin/approvals/${pending.id}/cancel`, { ...json({}), bearer: ADMIN_TOKEN })
    expect(noReason.status).toBe(400)
    expect((await noReason.json()).error_description).toMatch(/^reason/)
    const res = await broker.call('POST', `/admin/approvals/${pending.id}/cancel`, { ...json({ reason: 'wrong release' }), bearer: ADMIN_TOKEN })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ approval_id: pending.id, status: 'revoked' })
    const polled = await poll(broker, A, pending.auth_req_id)
    expect((await polled.json()).error).toBe('access_denied')
    const again = await broker.call('POST', `/admin/approvals/${pending.id}/cancel`, { ...json({ reason: 'again' }), bearer: ADMIN_TOKEN })
    expect(again.status).toBe(404)
    const anonymous = await broker.call('POST', `/admin/approvals/${pending.id}/cancel`, json({ reason: 'x' }))
    expect(anonymous.status).toBe(401)
  })
})

describe('writ approvals cancel', () => {
  it('cancels a pending request with a reason, exits 1 for an unknown id and 2 without --reason', async () => {
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'REL-C2', requested_by: 'carol@example.com' } }))
    const cancelled = await runCli(['--json', 'approvals', 'cancel', pending.id, '--reason', 'not this week'], admin())
    expect(cancelled.code).toBe(0)
    expect(JSON.parse(cancelled.stdout)).toEqual({ approval_id: pending.id, status: 'revoked' })
    expect((await broker.approvals.getRequest(pending.id))?.status).not.toBe('pending')
    const unknown = await runCli(['approvals', 'cancel', 'no-such-request', '--reason', 'x'], admin())
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no open approval request with id "no-such-request"')
    const noReason = await runCli(['approvals', 'cancel', pending.id], admin())
    expect(noReason.code).toBe(2)
    expect(noReason.stderr).toContain('--reason: required')
  })
})
