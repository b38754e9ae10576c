import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBrokerMetrics } from '../../src/observability/broker-metrics.js'
import { instrumentCalls } from '../../src/observability/instrument-calls.js'
import { WritError } from '../../src/errors.js'
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js'

const exporter = new InMemorySpanExporter()
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test')
const contextManager = new AsyncLocalStorageContextManager()
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()))
afterAll(() => {
  contextManager.disable()
  context.disable()
})

const readings = {
  liveGrants: async () => 0,
  pendingApprovals: async () => 0,
  signingKeyAgeSeconds: () => 0,
  auditUnchainedEvents: async () => 0,
}

describe('instrumentCalls', () => {
  it('times every call, counts the failed ones, and records neither arguments nor results', async () => {
    const metrics = createBrokerMetrics(readings, () => {})
    const secret = 'a-grant-record-that-must-not-leak'
    const store = {
      kind: 'memory' as const,
      async getGrant(id: string) {
        return { id, secret }
      },
      async ping(): Promise<void> {
        throw new WritError('temporarily_unavailable', 503, 'the store is unreachable')
      },
      takesAuditIntake: () => false,
      locks: { async getLock() { return null } },
    }
    const observed = instrumentCalls(store, { component: 'grants', metrics, tracer, nested: { locks: 'locks' } })
    exporter.reset()
    expect(await observed.getGrant('g1')).toEqual({ id: 'g1', secret })
    await expect(observed.ping()).rejects.toMatchObject({ code: 'temporarily_unavailable' })
    await expect(observed.ping()).rejects.toThrow()
    expect(await observed.locks.getLock()).toBeNull()
    expect(observed.takesAuditIntake()).toBe(false)
    expect(observed.kind).toBe('memory')

    const families = parsePrometheusText(await metrics.registry.metrics())
    expect(sampleValue(families, 'writ_store_command_duration_seconds_count', { store: 'grants', command: 'getGrant' })).toBe(1)
    expect(sampleValue(families, 'writ_store_command_duration_seconds_count', { store: 'grants', command: 'ping' })).toBe(2)
    expect(sampleValue(families, 'writ_store_command_errors_total', { store: 'grants', command: 'ping' })).toBe(2)
    expect(sampleValue(families, 'writ_store_command_errors_total', { store: 'grants', command: 'getGrant' })).toBe(0)
    expect(sampleValue(families, 'writ_store_command_duration_seconds_count', { store: 'locks', command: 'getLock' })).toBe(1)
    // Not commands: capability checks are not timed.
    expect(sampleValue(families, 'writ_store_command_duration_seconds_count', { command: 'takesAuditIntake' })).toBe(0)

    const spans = exporter.getFinishedSpans()
    expect(spans.map((s) => s.name).sort()).toEqual(['grants.getGrant', 'grants.ping', 'grants.ping', 'locks.getLock'])
    expect(spans.filter((s) => s.status.code === 2).map((s) => s.name)).toEqual(['grants.ping', 'grants.ping'])
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status]))).not.toContain(secret)
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status]))).not.toContain('g1')
  })

  it('returns the store itself when there is neither metrics nor a tracer', () => {
    const store = { async ping() {} }
    expect(instrumentCalls(store, { component: 'grants' })).toBe(store)
  })
})
