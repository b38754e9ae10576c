import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import { runWorkload } from './workload.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager()
let broker: ApprovalBroker

beforeAll(async () => {
  // What a service does to trace writ: an SDK with a context manager (here, in memory).
  context.setGlobalContextManager(contextManager.enable())
  broker = await makeApprovalBroker({ tracer: provider.getTracer('writ') })
})
afterAll(async () => {
  await broker.close()
  contextManager.disable()
  context.disable()
})

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

describe('tracing through @opentelemetry/api', () => {
  it('a span per request, with the store and signing steps as its children', async () => {
    exporter.reset()
    const res = await broker.call('POST', '/v1/tokens', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        task: { id: 'TRACE-1' },
        grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }],
      }),
      basic: ['agent-a', (await import('../approvals/helpers.js')).SECRETS['agent-a']],
    })
    expect(res.status).toBe(200)
    const spans = exporter.getFinishedSpans()
    const server = spans.find((s) => s.name === 'POST /v1/tokens')!
    expect(server).toBeDefined()
    expect(server.attributes).toMatchObject({ 'http.route': '/v1/tokens', 'http.response.status_code': 200 })
    const children = spans.filter((s) => parentOf(s) === server.spanContext().spanId).map((s) => s.name)
    expect(children).toContain('grants.createGrant')
    expect(children).toContain('tokens.sign')
    for (const span of spans) expect(span.spanContext().traceId).toBe(server.spanContext().traceId)
  })

  it('puts no secret or token of a whole workload in a span name or attribute', async () => {
    exporter.reset()
    const { secrets } = await runWorkload(broker)
    const spans = exporter.getFinishedSpans()
    expect(spans.length).toBeGreaterThan(50)
    const text = spans.map((s) => JSON.stringify({ name: s.name, attributes: s.attributes, events: s.events, status: s.status }))
    const leaks = [...secrets].filter((secret) => text.some((t) => t.includes(secret)))
    expect(leaks).toEqual([])
    // What the attributes hold: the method, the route template, the status, the store operation.
    const keys = new Set(spans.flatMap((s) => Object.keys(s.attributes)))
    expect([...keys].sort()).toEqual(
      ['http.request.method', 'http.response.status_code', 'http.route', 'writ.store', 'writ.store.command'].sort(),
    )
    // Paths carrying secrets appear as their templates.
    expect(spans.some((s) => s.attributes['http.route'] === '/enroll/:invite/verify')).toBe(true)
  })

  it('with tracing off, makes no span', async () => {
    const quiet = await makeApprovalBroker({ tracer: false })
    try {
      exporter.reset()
      expect((await quiet.call('GET', '/.well-known/jwks.json')).status).toBe(200)
      expect(exporter.getFinishedSpans()).toEqual([])
    } finally {
      await quiet.close()
    }
  })
})
