import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { talliedCounter, talliedHistogram } from '../../src/observability/tallies.js'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
/** Values on, between, below and above the bounds. */
const VALUES = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.02, 0.25, 0.26, 4.9, 5, 7, 120]

/** The same metrics, once as tallies and once as prom-client's own, with the same help and labels. */
function pair() {
  const tallied = new Registry()
  const plain = new Registry()
  const help = 'help text'
  const h = { name: 'h_seconds', help, labelNames: ['method', 'route'] as const, buckets: BUCKETS }
  return {
    tallied,
    plain,
    histogram: talliedHistogram({ ...h, registers: [tallied] }),
    plainHistogram: new Histogram({ ...h, labelNames: [...h.labelNames], registers: [plain] }),
    counter: talliedCounter({ name: 'c_total', help, labelNames: ['route', 'outcome'], registers: [tallied] }),
    plainCounter: new Counter({ name: 'c_total', help, labelNames: ['route', 'outcome'], registers: [plain] }),
  }
}

describe('tallied metrics', () => {
  it('render the exposition prom-client renders for the same observations', async () => {
    const m = pair()
    for (const [i, value] of VALUES.entries()) {
      const labels = { method: i % 2 ? 'GET' : 'POST', route: '/oauth/token' }
      m.histogram.child(labels).observe(value)
      m.plainHistogram.observe(labels, value)
      const outcome = { route: '/oauth/token', outcome: i % 3 ? 'issued' : 'denied' }
      m.counter.child(outcome).inc()
      m.plainCounter.inc(outcome)
    }
    m.counter.child({ route: '/v1/tokens', outcome: 'issued' }).inc(2.5)
    m.plainCounter.inc({ route: '/v1/tokens', outcome: 'issued' }, 2.5)
    expect(await m.tallied.metrics()).toBe(await m.plain.metrics())
    expect(await m.tallied.getMetricsAsJSON()).toEqual(await m.plain.getMetricsAsJSON())

    // Counts go on adding across scrapes.
    m.counter.child({ route: '/v1/tokens', outcome: 'issued' }).inc()
    m.plainCounter.inc({ route: '/v1/tokens', outcome: 'issued' })
    m.histogram.child({ method: 'GET', route: '/oauth/token' }).observe(0.002)
    m.plainHistogram.observe({ method: 'GET', route: '/oauth/token' }, 0.002)
    expect(await m.tallied.metrics()).toBe(await m.plain.metrics())
  })

  it('leave a child out until it counts something, and give the same child for the same labels', async () => {
    const m = pair()
    const child = m.histogram.child({ method: 'POST', route: '/x' })
    m.counter.child({ route: '/x', outcome: 'issued' })
    expect(m.histogram.child({ route: '/x', method: 'POST' })).toBe(child)
    expect(await m.tallied.metrics()).toBe(await m.plain.metrics())
  })

  it('refuse what prom-client refuses: unknown labels, values that are not numbers, decrements', () => {
    const m = pair()
    expect(() => m.histogram.child({ method: 'GET', path: '/secret' } as never)).toThrow(/not included/)
    expect(() => m.histogram.child({ method: 'GET', route: '/' }).observe(Number.NaN)).toThrow(TypeError)
    expect(() => m.counter.child({ route: '/', outcome: 'issued' }).inc(-1)).toThrow(/decrease/)
  })

  it('start again from zero when the registry resets its metrics', async () => {
    const m = pair()
    m.histogram.child({ method: 'GET', route: '/' }).observe(0.01)
    m.counter.child({ route: '/', outcome: 'issued' }).inc()
    await m.tallied.metrics()
    m.tallied.resetMetrics()
    m.plain.resetMetrics()
    expect(await m.tallied.metrics()).toBe(await m.plain.metrics())
    m.histogram.child({ method: 'GET', route: '/' }).observe(0.02)
    m.plainHistogram.observe({ method: 'GET', route: '/' }, 0.02)
    expect(await m.tallied.metrics()).toBe(await m.plain.metrics())
  })
})
