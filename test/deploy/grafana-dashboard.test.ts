import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import { type Family, parsePrometheusText } from '../helpers/prometheus-text.js'
import { METRICS_TOKEN, runWorkload } from '../observability/workload.js'

const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '../../deploy/grafana/writ-dashboard.json'), 'utf8')) as {
  uid: string
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>
}

/** The metric names a PromQL expression reads: identifiers followed by a selector or range. */
function metricNames(expr: string): string[] {
  const functionsAndKeywords = new Set(['sum', 'max', 'min', 'avg', 'rate', 'increase', 'histogram_quantile', 'by', 'without', 'le'])
  // Label lists of aggregations (`sum by (le, route)`) name labels, not metrics.
  const withoutLabelLists = expr.replace(/\b(by|without)\s*\([^)]*\)/g, '')
  return [...withoutLabelLists.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[[{)])/g)]
    .map((m) => m[1]!)
    .filter((name) => !functionsAndKeywords.has(name))
}

/** The sample names a family exposes (a histogram's `_bucket`, `_sum`, `_count`). */
function sampleNames(families: Map<string, Family>): Set<string> {
  const names = new Set<string>()
  for (const family of families.values()) {
    names.add(family.name)
    if (family.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(family.name + s)
    if (family.type === 'summary') for (const s of ['_sum', '_count']) names.add(family.name + s)
  }
  return names
}

let broker: ApprovalBroker
beforeAll(async () => {
  broker = await makeApprovalBroker({ config: { metrics: { bearerToken: METRICS_TOKEN } } })
})
afterAll(() => broker.close())

describe('deploy/grafana/writ-dashboard.json', () => {
  it('reads only metrics a scrape of the broker has, and covers every kind the broker exports', async () => {
    await runWorkload(broker)
    const res = await broker.app.request('https://writ.test/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    const exported = sampleNames(parsePrometheusText(await res.text()))
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))))
    expect(used.size).toBeGreaterThan(15)
    expect([...used].filter((name) => !exported.has(name))).toEqual([])
    // Every writ_ family appears on the dashboard.
    const writFamilies = [...exported].filter((n) => n.startsWith('writ_') && !/_(bucket|sum|count)$/.test(n))
    const covered = (family: string) => [...used].some((name) => name === family || name.startsWith(`${family}_`))
    expect(writFamilies.filter((family) => !covered(family))).toEqual([])
  })

  it('is a dashboard Grafana imports: a uid, and every panel has a title and a query', () => {
    expect(dashboard.uid).toBe('writ-broker')
    for (const panel of dashboard.panels) {
      expect(panel.title.length).toBeGreaterThan(0)
      expect(panel.targets.length).toBeGreaterThan(0)
    }
  })
})
