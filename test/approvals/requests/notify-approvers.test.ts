import { describe, expect, it } from 'vitest'
import { createApprovalNotifier, webhookSignature } from '../../../src/approvals/requests/notify-approvers.js'
import type { ApprovalRequest } from '../../../src/approvals/types.js'
import { manualClock } from '../../../src/clock.js'
import { silentLogger } from '../../../src/logger.js'

const request: ApprovalRequest = {
  id: 'appr-1',
  clientId: 'agent-a',
  secretSha256: 'ab'.repeat(32),
  manifest: { task: { id: 'T-1', purpose: 'p' }, grants: [{ type: 'deploy', actions: ['create'] }] },
  manifestSha256: 'cd'.repeat(32),
  ttlSeconds: 300,
  requirements: [
    { ruleId: 'a', approvers: 1, from: 'ops', requireDpop: false, forbidSelfApproval: true },
    { ruleId: 'b', approvers: 2, from: 'ops', requireDpop: false, forbidSelfApproval: true },
    { ruleId: 'c', approvers: 1, from: 'quiet', requireDpop: false, forbidSelfApproval: true },
  ],
  createdAt: 1767225600,
  expiresAt: 1767225900,
  intervalSeconds: 5,
}

function harness(answers: Array<number | Error>) {
  const calls: Array<{ url: string; init: RequestInit }> = []
  const delays: number[] = []
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, init })
    const answer = answers.shift() ?? 200
    if (answer instanceof Error) throw answer
    return new Response(null, { status: answer })
  }) as typeof globalThis.fetch
  const clock = manualClock(1767225600_000)
  const notifier = createApprovalNotifier({
    targets: () => new Map([['ops', [{ url: 'https://hooks.example.com/ops', secret: 's3cret' }]]]),
    baseUrl: 'https://writ.example.com',
    fetch,
    clock,
    logger: silentLogger,
    maxAttempts: 4,
    initialBackoffMs: 1000,
    sleep: async (ms) => {
      delays.push(ms)
      clock.advance(ms)
    },
  })
  return { calls, delays, notifier }
}

describe('createApprovalNotifier', () => {
  it('posts one signed notice per group with a webhook, naming the approval URL, client, task and grants', async () => {
    const { calls, notifier } = harness([204])
    await notifier.notify(request)
    expect(calls).toHaveLength(1)
    const { url, init } = calls[0]!
    expect(url).toBe('https://hooks.example.com/ops')
    expect(init.method).toBe('POST')
    expect(init.redirect).toBe('manual')
    const body = JSON.parse(String(init.body))
    expect(body).toMatchObject({
      type: 'writ.approval_request',
      group: 'ops',
      approval_id: 'appr-1',
      approval_uri: 'https://writ.example.com/approve/appr-1',
      client_id: 'agent-a',
      task: { id: 'T-1', purpose: 'p' },
      grants: [{ type: 'deploy', actions: ['create'] }],
      ttl_seconds: 300,
      expires_at: '2026-01-01T00:05:00.000Z',
      approvers_needed: 2,
    })
    const headers = new Headers(init.headers)
    expect(headers.get('writ-signature')).toBe(`t=1767225600,v1=${webhookSignature('s3cret', 1767225600, String(init.body))}`)
    expect(headers.get('writ-delivery')).toBe(body.delivery_id)
  })

  it('retries failures with exponential backoff, re-signing each attempt, then stops on success', async () => {
    const { calls, delays, notifier } = harness([500, new Error('ECONNREFUSED'), 302, 200])
    await notifier.notify(request)
    expect(calls).toHaveLength(4)
    expect(delays).toEqual([1000, 2000, 4000])
    const bodies = new Set(calls.map((c) => String(c.init.body)))
    expect(bodies.size).toBe(1)
    const stamps = calls.map((c) => new Headers(c.init.headers).get('writ-signature')!.split(',')[0])
    expect(stamps).toEqual(['t=1767225600', 't=1767225601', 't=1767225603', 't=1767225607'])
  })

  it('gives up after maxAttempts without throwing', async () => {
    const { calls, notifier } = harness([500, 500, 500, 500, 500])
    await expect(notifier.notify(request)).resolves.toBeUndefined()
    expect(calls).toHaveLength(4)
  })

  it('sends nothing once closed', async () => {
    const { calls, notifier } = harness([])
    notifier.close()
    await notifier.notify(request)
    expect(calls).toHaveLength(0)
  })
})
