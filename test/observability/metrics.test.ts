import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import { type Family, parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js'
import { METRICS_TOKEN, runWorkload } from './workload.js'
import { BROKER_METRIC_NAMES } from '../../src/observability/broker-metrics.js'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import { manualClock } from '../../src/clock.js'
import { testKeys } from '../audit/helpers.js'
import { A, json } from '../approvals/helpers.js'

let broker: ApprovalBroker

async function scrape(target: ApprovalBroker = broker): Promise<Map<string, Family>> {
  const res = await target.app.request('https://writ.test/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheusText(await res.text())
}

beforeAll(async () => {
  broker = await makeApprovalBroker({ config: { metrics: { bearerToken: METRICS_TOKEN } } })
})
afterAll(() => broker.close())

describe('GET /metrics after a scripted workload', () => {
  it('moves each counter by exactly what the workload did', async () => {
    const before = await scrape()
    await runWorkload(broker)
    const after = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels)

    const tokens = 'writ_token_requests_total'
    expect(delta(tokens, { route: '/v1/tokens', outcome: 'issued' })).toBe(1)
    expect(delta(tokens, { route: '/v1/tokens', outcome: 'denied' })).toBe(1)
    expect(delta(tokens, { route: '/v1/tokens', outcome: 'pending' })).toBe(2)
    // client_credentials, and the approved request collected by its poll.
    expect(delta(tokens, { route: '/oauth/token', outcome: 'issued' })).toBe(2)
    expect(delta(tokens, { route: '/oauth/token', outcome: 'pending' })).toBe(1)
    expect(delta(tokens, { route: '/oauth/token', outcome: 'denied' })).toBe(1)
    expect(delta(tokens, { route: '/oauth/token', outcome: 'invalid' })).toBe(0)
    expect(delta(tokens, { route: '/v1/tokens', outcome: 'error' })).toBe(0)
    expect(delta('writ_token_issuance_duration_seconds_count', { route: '/v1/tokens' })).toBe(1)
    expect(delta('writ_token_issuance_duration_seconds_count', { route: '/oauth/token' })).toBe(2)

    expect(delta('writ_approval_requests_total')).toBe(2)
    expect(delta('writ_approvals_decided_total', { outcome: 'approved' })).toBe(1)
    expect(delta('writ_approvals_decided_total', { outcome: 'denied' })).toBe(1)
    // The decision time is observed once the request's creation time is read back.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const timed = await scrape()
    expect(sampleValue(timed, 'writ_approval_decision_duration_seconds_count', { outcome: 'approved' })).toBe(1)
    expect(sampleValue(timed, 'writ_approval_decision_duration_seconds_count', { outcome: 'denied' })).toBe(1)

    expect(delta('writ_revocations_total', { scope: 'task' })).toBe(1)
    expect(delta('writ_grants_revoked_total', { scope: 'task' })).toBe(2)
    // The approved deploy grant is the one still live.
    expect(sampleValue(after, 'writ_live_grants')).toBe(1)
    expect(sampleValue(after, 'writ_approvals_pending')).toBe(0)
    expect(delta('writ_rate_limited_total')).toBe(0)
    expect(sampleValue(after, 'writ_audit_write_failures_total')).toBe(0)
    expect(sampleValue(after, 'writ_audit_unchained_events')).toBe(0)

    // Every grant write went through the store, timed.
    expect(delta('writ_store_command_duration_seconds_count', { store: 'grants', command: 'createGrant' })).toBe(3)
    expect(delta('writ_store_command_errors_total', { store: 'grants', command: 'createGrant' })).toBe(0)
    expect(delta('writ_store_command_duration_seconds_count', { store: 'approvals', command: 'createRequest' })).toBe(2)
    expect(delta('writ_http_request_duration_seconds_count', { method: 'POST', route: '/admin/revocations', status: '2xx' })).toBe(1)
  })

  it('exports every metric the broker defines, and process metrics', async () => {
    const families = await scrape()
    for (const name of BROKER_METRIC_NAMES) expect(families.has(name), name).toBe(true)
    expect(families.get('writ_token_issuance_duration_seconds')?.type).toBe('histogram')
    expect(families.get('writ_token_requests_total')?.type).toBe('counter')
    expect(families.get('writ_live_grants')?.type).toBe('gauge')
    expect(sampleValue(families, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(sampleValue(families, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
    const age = sampleValue(families, 'writ_signing_key_age_seconds')
    expect(age).toBeGreaterThanOrEqual(0)
    expect(age).toBeLessThan(3600)
  })

  it('counts rate-limited token requests by route', async () => {
    const limited = await makeApprovalBroker({
      config: { metrics: { bearerToken: METRICS_TOKEN }, limits: { clientBurst: 1, clientRequestsPerSecond: 0.001 } },
    })
    try {
      const manifest = JSON.stringify({
        task: { id: 'RL-1' },
        grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }],
      })
      const statuses = []
      for (let i = 0; i < 3; i++) {
        const res = await limited.call('POST', '/v1/tokens', {
          headers: { 'content-type': 'application/json' },
          body: manifest,
          basic: ['agent-a', (await import('../approvals/helpers.js')).SECRETS['agent-a']],
        })
        statuses.push(res.status)
      }
      expect(statuses).toEqual([200, 429, 429])
      const families = await scrape(limited)
      expect(sampleValue(families, 'writ_rate_limited_total', { route: '/v1/tokens' })).toBe(2)
      expect(sampleValue(families, 'writ_token_requests_total', { route: '/v1/tokens', outcome: 'rate_limited' })).toBe(2)
    } finally {
      await limited.close()
    }
  })
})

describe('/metrics when the audit log cannot be written', () => {
  it('counts each failed audit write, and the token request it failed as an error', async () => {
    const clock = manualClock(Date.now())
    const log = createMemoryAuditLog({ clock, issuer: 'https://writ.test', signer: await testKeys(clock) })
    const down = await makeApprovalBroker({ auditLog: log, config: { metrics: { bearerToken: METRICS_TOKEN } } })
    try {
      const before = await scrape(down)
      await log.close()
      const res = await down.call('POST', '/v1/tokens', {
        ...json({ task: { id: 'AUD-1' }, grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }] }),
        basic: A,
      })
      expect(res.status).toBe(503)
      const after = await scrape(down)
      const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(after, name, labels) - sampleValue(before, name, labels)
      expect(delta('writ_audit_write_failures_total')).toBe(1)
      expect(delta('writ_token_requests_total', { route: '/v1/tokens', outcome: 'error' })).toBe(1)
      expect(delta('writ_token_requests_total', { route: '/v1/tokens', outcome: 'issued' })).toBe(0)
    } finally {
      await down.close()
    }
  })
})

describe('who may read /metrics', () => {
  it('refuses a scrape without the bearer token, or with another one', async () => {
    for (const authorization of [undefined, `Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`, `Basic ${METRICS_TOKEN}`]) {
      const res = await broker.app.request('https://writ.test/metrics', { headers: authorization ? { authorization } : {} })
      expect(res.status, authorization).toBe(401)
      const text = await res.text()
      expect(text).not.toContain('writ_')
      expect(JSON.parse(text).error).toBe('invalid_token')
    }
  })

  it('by default (no token, no listener of its own) serves no metric on the main listener', async () => {
    const open = await makeApprovalBroker()
    try {
      const res = await open.app.request('https://writ.test/metrics')
      expect(res.status).toBe(401)
      const body = (await res.json()) as { error_description: string }
      expect(body.error_description).toMatch(/metrics\.bearerToken.*metrics\.listen/)
      expect(open.metricsApp).toBeUndefined()
    } finally {
      await open.close()
    }
  })

  it('with metrics.listen, serves them only on the metrics app, which has no other route', async () => {
    const split = await makeApprovalBroker({ config: { metrics: { listen: '127.0.0.1:9464' } } })
    try {
      expect((await split.app.request('https://writ.test/metrics')).status).toBe(404)
      const res = await split.metricsApp!.request('http://127.0.0.1:9464/metrics')
      expect(res.status).toBe(200)
      expect(parsePrometheusText(await res.text()).has('writ_token_requests_total')).toBe(true)
      for (const path of ['/oauth/token', '/admin/grants', '/.well-known/jwks.json']) {
        expect((await split.metricsApp!.request(`http://127.0.0.1:9464${path}`)).status).toBe(404)
      }
    } finally {
      await split.close()
    }
  })

  it('with metrics.enabled false, keeps and serves none', async () => {
    const off = await makeApprovalBroker({ config: { metrics: { enabled: false, bearerToken: METRICS_TOKEN } } })
    try {
      expect(off.telemetry.metrics).toBeUndefined()
      const res = await off.app.request('https://writ.test/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      expect(res.status).toBe(404)
    } finally {
      await off.close()
    }
  })
})

describe('the Prometheus text parser the tests use', () => {
  it('refuses what the format does not allow', () => {
    expect(() => parsePrometheusText('x 1\n')).toThrow(/no declared family/)
    expect(() => parsePrometheusText('# TYPE x counter\nx{a="\\q"} 1\n')).toThrow(/bad escape/)
    expect(() => parsePrometheusText('# TYPE x counter\nx 1')).toThrow(/newline/)
    expect(() => parsePrometheusText('# TYPE x counter\nx one\n')).toThrow(/bad value/)
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket 1\n')).toThrow(/without le/)
    expect(parsePrometheusText('# TYPE x gauge\nx{a="q\\"\\n"} +Inf\n').get('x')!.samples[0]).toEqual({
      name: 'x',
      labels: { a: 'q"\n' },
      value: Infinity,
    })
  })
})
