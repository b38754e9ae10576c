/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every line is empty, a `# HELP`, a
 * `# TYPE` or a sample of a family declared before it; label values use only the escapes the
 * format defines; values are Go floats (`+Inf`, `-Inf`, `NaN` in any case). Anything else throws,
 * naming the line, so a test that parses a scrape also checks it is well formed.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
}

function parseValue(text: string, where: string): number {
  // Prometheus reads values with Go's strconv.ParseFloat: Inf, Infinity and NaN in any case.
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity
  if (/^-inf(inity)?$/i.test(text)) return -Infinity
  if (/^nan$/i.test(text)) return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value "${text}"`)
  return Number(text)
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`${where}: label without "="`)
    const name = text.slice(i, eq)
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`)
    if (name in labels) throw new Error(`${where}: label "${name}" twice`)
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`)
    let value = ''
    let j = eq + 2
    for (;;) {
      const ch = text[j]
      if (ch === undefined) throw new Error(`${where}: unterminated label value`)
      if (ch === '"') break
      if (ch === '\\') {
        const next = text[j + 1]
        if (next === 'n') value += '\n'
        else if (next === '\\' || next === '"') value += next
        else throw new Error(`${where}: bad escape \\${next ?? ''}`)
        j += 2
        continue
      }
      if (ch === '\n') throw new Error(`${where}: raw newline in label value`)
      value += ch
      j++
    }
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (i < text.length) throw new Error(`${where}: expected "," between labels`)
  }
  return labels
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition does not end with a newline')
  const lines = text.split('\n').slice(0, -1)
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`
    // The format ignores empty lines (prom-client writes one between families).
    if (line === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m) return // a comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`)
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] }
      if (kind === 'TYPE') {
        if (families.get(name)?.samples.length) throw new Error(`${where}: TYPE after samples of ${name}`)
        if (!(rest in SUFFIXES)) throw new Error(`${where}: unknown type "${rest}"`)
        family.type = rest as MetricType
      } else {
        family.help = rest
      }
      families.set(name, family)
      return
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line)
    if (!m) throw new Error(`${where}: not a sample: ${line}`)
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string]
    const family = [...families.values()].find((f) =>
      SUFFIXES[f.type].some((suffix) => `${f.name}${suffix}` === name),
    )
    if (!family) throw new Error(`${where}: sample ${name} of no declared family`)
    const labels = labelText ? parseLabels(labelText, where) : {}
    if (family.type === 'histogram' && name.endsWith('_bucket') && !('le' in labels)) {
      throw new Error(`${where}: histogram bucket without le`)
    }
    family.samples.push({ name, labels, value: parseValue(valueText, where) })
  })
  return families
}

/** The value of the one sample named `name` whose labels include `labels`; 0 when there is none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (matches.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${matches.length} samples`)
  return matches[0]?.value ?? 0
}
