import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  deployManifest,
  enrol,
  json,
  makeApprovalBroker,
  requestApproval,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { seedApproverKey } from '../helpers/approver-key.js'

let broker: ApprovalBroker

beforeAll(async () => {
  broker = await makeApprovalBroker()
  await enrol(broker, broker.authenticator(), 'alice@example.com', 'release-managers')
})
afterAll(() => broker.close())

describe('GET /approve/{id}', () => {
  it('shows exactly what is asked: client, task, purpose, requester, every grant, TTL and expiry', async () => {
    const manifest = deployManifest({
      grants: [
        { type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'], identifier: 'v4.2.0', region: 'eu-west-1' },
      ],
    })
    const pending = await requestApproval(broker, A, manifest)
    const res = await broker.call('GET', `/approve/${pending.id}`)
    expect(res.status).toBe(200)
    const page = await res.text()
    for (const text of [
      'agent-a',
      'REL-42',
      'Deploy release 4.2 to production',
      'carol@example.com',
      'deploy',
      'create',
      'https://deploy.example.com/acme/app',
      'v4.2.0',
      'region',
      '&quot;eu-west-1&quot;',
      '5 min from when the agent collects it',
      new Date((Math.floor(broker.clock() / 1000) + 300) * 1000).toISOString().slice(0, 19).replace('T', ' '),
      'Approve with security key',
      'Deny',
      'release-managers',
    ]) {
      expect(page).toContain(text)
    }
    expect(page).toContain('name="viewport"')
  })

  it('is sent with a CSP that allows no inline script and no framing, and loads nothing external', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const res = await broker.call('GET', `/approve/${pending.id}`)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const page = await res.text()
    // The only script is the same-origin file; no inline script, no external URL at all.
    expect([...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script src="/approve/ceremony.js" defer>'])
    expect(page).not.toMatch(/<script>[^<]/)
    expect(page).not.toMatch(/(src|href)="https?:/)
    const script = await broker.call('GET', '/approve/ceremony.js')
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(await script.text()).toContain('navigator.credentials.get')
  })

  it('escapes everything the agent wrote, so a manifest cannot inject markup', async () => {
    // A requester that is no address never gets this far.
    const markup = await broker.call('POST', '/v1/tokens', { ...json(deployManifest({ task: { id: 'X', requested_by: '"><svg onload=alert(3)>' } })), basic: A })
    expect(markup.status).toBe(400)
    const pending = await requestApproval(
      broker,
      A,
      deployManifest({ task: { id: 'X"<b>', purpose: '<script>alert(1)</script><img src=x onerror=alert(2)>', requested_by: 'carol@example.com' } }),
    )
    const page = await (await broker.call('GET', `/approve/${pending.id}`)).text()
    expect(page).not.toContain('<script>alert')
    expect(page).not.toContain('<img')
    expect(page).not.toContain('<svg')
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(page).toContain('X&quot;&lt;b&gt;')
  })

  it('answers an unknown request with a 404 page', async () => {
    const res = await broker.call('GET', '/approve/does-not-exist')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await res.text()).toContain('No such approval request')
  })

  it('shows a decided request without buttons', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    broker.clock.advance(301_000)
    const page = await (await broker.call('GET', `/approve/${pending.id}`)).text()
    expect(page).toContain('Expired')
    expect(page).not.toContain('data-action="approve"')
  })
})

describe('approval ceremony input', () => {
  let id: string
  beforeAll(async () => {
    id = (await requestApproval(broker, A, deployManifest())).id
  })

  it('names a bad or missing action', async () => {
    for (const body of [{}, { action: 'maybe' }, null, []]) {
      const res = await broker.call('POST', `/approve/${id}/options`, json(body))
      expect(res.status).toBe(400)
      expect((await res.json()).error_description).toMatch(/^action:/)
    }
  })

  it('refuses anything but application/json (no cross-site form posts)', async () => {
    const res = await broker.call('POST', `/approve/${id}/options`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=approve',
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/content-type must be application\/json/)
  })

  it('names the field of a malformed credential, and malformed JSON', async () => {
    const bad = await broker.call('POST', `/approve/${id}/verify`, json({ id: 'abc', rawId: 'abc', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: '!!' } }))
    expect(bad.status).toBe(400)
    expect((await bad.json()).error_description).toMatch(/response\.signature: expected base64url/)
    const missing = await broker.call('POST', `/approve/${id}/verify`, json({ type: 'public-key' }))
    expect((await missing.json()).error_description).toMatch(/id: required/)
    const broken = await broker.call('POST', `/approve/${id}/deny`, { headers: { 'content-type': 'application/json' }, body: '{"id":' })
    expect(broken.status).toBe(400)
    expect((await broken.json()).error_description).toMatch(/^body: /)
  })

  it('refuses a well-formed credential whose clientDataJSON is not JSON', async () => {
    const res = await broker.call('POST', `/approve/${id}/verify`, json({
      id: 'abc', rawId: 'abc', type: 'public-key',
      response: { clientDataJSON: Buffer.from('nope').toString('base64url'), authenticatorData: 'AA', signature: 'AA' },
    }))
    expect(res.status).toBe(403)
  })

  it('answers 404 for ceremonies on unknown requests', async () => {
    expect((await broker.call('POST', '/approve/nope/options', json({ action: 'approve' }))).status).toBe(404)
  })

  it('answers 409 when nobody who may decide has a usable key (their keys were disabled after the request)', async () => {
    const dbas = [
      await seedApproverKey(broker.approvals, 'dana@example.com', 'dbas'),
      await seedApproverKey(broker.approvals, 'erin@example.com', 'dbas'),
    ]
    const migrate = await requestApproval(broker, A, {
      task: { id: 'DB-1', requested_by: 'frank@example.com' },
      grants: [{ type: 'db', actions: ['migrate'], locations: ['https://db.example.com/x'] }],
    })
    for (const id of dbas) await broker.approvals.flagCredential(id, { reason: 'disabled', at: 0, detail: 'test' })
    const res = await broker.call('POST', `/approve/${migrate.id}/options`, json({ action: 'approve' }))
    expect(res.status).toBe(409)
    expect((await res.json()).error_description).toMatch(/no one who may approve/)
  })
})
