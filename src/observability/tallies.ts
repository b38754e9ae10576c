import { Counter, type LabelValues, type Registry } from 'prom-client'

/**
 * Request-path metrics as plain arithmetic on label sets resolved once. prom-client 15 hashes the
 * label object on every `inc`/`observe`, even on a `labels()` child; here a child is bound to its
 * label values when first asked for, counting is a few additions, and prom-client sees the totals
 * when it collects (at each scrape) and renders the exposition as for its own metrics.
 */

/** One label set of a tallied histogram. */
export interface HistogramChild {
  observe(value: number): void
}

/** One label set of a tallied counter. */
export interface CounterChild {
  inc(by?: number): void
}

export interface TalliedHistogram<L extends string> {
  readonly name: string
  /** The child for these label values, made on first use; the same object for the same values. */
  child(labels: LabelValues<L>): HistogramChild
}

export interface TalliedCounter<L extends string> {
  readonly name: string
  child(labels: LabelValues<L>): CounterChild
}

interface TallyOptions<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registers: Registry[]
}

/** The key of a label set, in the metric's label order (values are route templates and names: no NUL). */
const keyOf = <L extends string>(labelNames: readonly L[], labels: LabelValues<L>): string =>
  labelNames.map((name) => String(labels[name] ?? '')).join('\u0000')

type Labels = Record<string, string | number>

/** A copy of the label values given, refused (as prom-client refuses it) if it names an undeclared label. */
function ownLabels<L extends string>(labelNames: readonly L[], labels: LabelValues<L>): Labels {
  const own: Labels = {}
  for (const name of Object.keys(labels)) {
    if (!labelNames.includes(name as L)) {
      throw new Error(`Added label "${name}" is not included in initial labelset`)
    }
  }
  for (const name of labelNames) {
    const value = labels[name]
    if (value !== undefined) own[name] = value
  }
  return own
}

/** A metric's `child(labels)`: the child of `children` for these values, made (and kept) on first use. */
function childOf<L extends string, C>(
  children: Map<string, C>,
  labelNames: readonly L[],
  make: (labels: Labels) => C,
): (labels: LabelValues<L>) => C {
  return (labels) => {
    const key = keyOf(labelNames, labels)
    let child = children.get(key)
    if (child === undefined) {
      child = make(ownLabels(labelNames, labels))
      children.set(key, child)
    }
    return child
  }
}

/**
 * A counter whose children add to plain numbers; each collect (scrape) folds what they added into a
 * prom-client Counter with `inc`, so the Counter holds the totals and prom-client renders it.
 */
export function talliedCounter<L extends string>(options: TallyOptions<L>): TalliedCounter<L> {
  const children = new Map<string, CounterChild & { readonly labels: Labels; pending: number }>()
  const fold = (counter: Counter<L>): void => {
    for (const child of children.values()) {
      if (child.pending === 0) continue
      counter.inc(child.labels as LabelValues<L>, child.pending)
      child.pending = 0
    }
  }
  new Counter<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: options.registers,
    collect() {
      fold(this)
    },
  })
  return {
    name: options.name,
    child: childOf(children, options.labelNames, (labels) => ({
      labels,
      pending: 0,
      inc(by = 1) {
        if (!(by >= 0) || !Number.isFinite(by)) throw new Error('It is not possible to decrease a counter')
        this.pending += by
      },
    })),
  }
}

interface HistogramTally extends HistogramChild {
  readonly labels: Labels
  /** Observations per bucket, not cumulative; the last slot holds those above the largest bound. */
  readonly counts: Float64Array
  sum: number
  count: number
}

/**
 * A histogram kept as bucket counts per label set. It is registered with the registry as a metric
 * of prom-client's shape (`get`, `getForPromString`, `reset`): the registry renders its samples,
 * `_bucket` (cumulative, `le` first), `_sum` and `_count`, exactly as for a prom-client Histogram.
 * A child appears in the exposition once it has an observation.
 */
export function talliedHistogram<L extends string>(
  options: TallyOptions<L> & { buckets: readonly number[] },
): TalliedHistogram<L> {
  const bounds = [...options.buckets].sort((a, b) => a - b)
  const children = new Map<string, HistogramTally>()
  const bucketName = `${options.name}_bucket`

  const makeChild = (labels: Labels): HistogramTally => ({
    labels,
    counts: new Float64Array(bounds.length + 1),
    sum: 0,
    count: 0,
    observe(value: number) {
      if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`)
      let i = 0
      while (i < bounds.length && value > bounds[i]!) i++
      this.counts[i]! += 1
      this.sum += value
      this.count += 1
    },
  })

  /** The samples of every child, `labels` holding `le` and `sharedLabels` the child's own labels. */
  const samples = () => {
    const values: { labels: Labels; sharedLabels: Labels; value: number; metricName: string; exemplar?: null }[] = []
    for (const { labels: sharedLabels, counts, sum, count } of children.values()) {
      if (count === 0) continue
      let cumulative = 0
      for (let i = 0; i < bounds.length; i++) {
        cumulative += counts[i]!
        values.push({ labels: { le: bounds[i]! }, sharedLabels, value: cumulative, metricName: bucketName, exemplar: null })
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: count, metricName: bucketName, exemplar: null })
      values.push({ labels: {}, sharedLabels, value: sum, metricName: `${options.name}_sum` })
      values.push({ labels: {}, sharedLabels, value: count, metricName: `${options.name}_count` })
    }
    return values
  }
  const base = { name: options.name, help: options.help, type: 'histogram' as const, aggregator: 'sum' as const }

  const metric = {
    ...base,
    /** What the registry renders from: the shape prom-client's own Histogram hands it. */
    async getForPromString() {
      return { ...base, values: samples() }
    },
    /** The samples with each child's labels and `le` merged, as prom-client's `get()` gives them. */
    async get() {
      const values = samples().map(({ sharedLabels, labels, ...sample }) => ({
        ...sample,
        labels: { ...sharedLabels, ...labels },
      }))
      return { ...base, values }
    },
    reset() {
      for (const child of children.values()) {
        child.counts.fill(0)
        child.sum = 0
        child.count = 0
      }
    },
  }
  // The registry needs only the members above (name, type, get/getForPromString, reset).
  for (const registry of options.registers) registry.registerMetric(metric as unknown as Counter)

  return { name: options.name, child: childOf(children, options.labelNames, makeChild) }
}
