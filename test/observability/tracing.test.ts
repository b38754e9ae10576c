import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/logger.js'
import { createRequestScopes } from '../../src/request-scope.js'
import { observeRequests } from '../../src/server/observe-requests.js'
import { makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import { runWorkload } from './workload.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager()
let broker: ApprovalBroker

beforeAll(async () => {
  // What a service does to trace writ: an SDK (here, exporting to memory). No context manager:
  // writ's spans find their parent without one.
  broker = await makeApprovalBroker({ tracer: provider.getTracer('writ') })
})
afterAll(async () => {
  await broker.close()
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

describe('the request span and OpenTelemetry context', () => {
  // A service running other instrumentations registers the context manager too.
  beforeAll(() => void context.setGlobalContextManager(contextManager.enable()))
  afterAll(() => {
    contextManager.disable()
    context.disable()
  })
  const tracer = provider.getTracer('writ')
  /** An app with writ's request middleware and a route that does what an instrumented library would. */
  function appWithInstrumentedRoute() {
    const app = new Hono()
    app.use(observeRequests({ tracer, scopes: createRequestScopes(), logger: silentLogger }))
    app.get('/work', async (c) => {
      await Promise.resolve()
      // An instrumentation (a Redis client, fetch) starts its span in the active context.
      tracer.startSpan('instrumented-call').end()
      return c.text('ok')
    })
    return app
  }

  it('inside an active span (an HTTP instrumentation), nests under it and is made active for the spans beneath', async () => {
    exporter.reset()
    const app = appWithInstrumentedRoute()
    const outer = tracer.startSpan('GET (http instrumentation)')
    const res = await context.with(trace.setSpan(ROOT_CONTEXT, outer), () => app.request('/work'))
    outer.end()
    expect(res.status).toBe(200)
    const spans = exporter.getFinishedSpans()
    const writ = spans.find((s) => s.name === 'GET /work')!
    expect(parentOf(writ)).toBe(outer.spanContext().spanId)
    expect(parentOf(spans.find((s) => s.name === 'instrumented-call')!)).toBe(writ.spanContext().spanId)
  })

  it('with no active span, leaves the context manager untouched: the span reaches its children through the request scope only', async () => {
    exporter.reset()
    const app = appWithInstrumentedRoute()
    expect((await app.request('/work')).status).toBe(200)
    const spans = exporter.getFinishedSpans()
    const writ = spans.find((s) => s.name === 'GET /work')!
    expect(parentOf(writ)).toBeUndefined()
    // Not entered, so what runs beneath sees no active span (writ's own children find theirs in the
    // request scope: the first test of this file).
    expect(parentOf(spans.find((s) => s.name === 'instrumented-call')!)).toBeUndefined()
  })
})
