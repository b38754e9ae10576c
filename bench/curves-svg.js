// Draws bench/results/curves.svg from the curves report (bench/curves.js): one small panel per
// curve, the x axis on a log scale, the y axis the cost of a point relative to the curve's smallest
// (1 = as cheap; for rates the inverse of the rate ratio, for times the ratio of the times), with the
// 1.2x goal dashed where the curve has it. A plain SVG string: no dependency.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** 10, 1k, 100k, 1M: short labels for the x axis. */
export function shortCount(n) {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`
  if (n >= 1000 && n % 100 === 0) return `${n / 1000}k`
  return String(n)
}

const PANEL_W = 400
const PANEL_H = 250
const COLUMNS = 3
const GAP = 20

/** One panel's SVG elements, its top left corner at (left, top). */
function panel(c, left, top) {
  const parts = []
  const x0 = left + 48
  const y0 = top + 50
  const w = PANEL_W - 70
  const h = PANEL_H - 112
  const costs = c.rows.map((r) => r.cost)
  const p99 = c.kind === 'latency' ? c.rows.map((r) => r.p99Cost) : []
  const goal = c.goal?.maxCost
  // The scale follows the costs (p50 for times) and the goal; a p99 beyond it is drawn at the top
  // with its value, so one slow round does not flatten the rest of the panel.
  const yMax = Math.max(1.5, goal ?? 0, ...costs) * 1.15
  const xs = c.rows.map((r) => Math.log10(r.point))
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)]
  const px = (v) => x0 + ((v - xMin) / (xMax - xMin || 1)) * w
  const py = (v) => y0 + h - (v / yMax) * h
  const f1 = (v) => v.toFixed(1)

  parts.push(`<rect x="${left}" y="${top}" width="${PANEL_W}" height="${PANEL_H}" class="f"/>`)
  parts.push(`<text x="${left + 12}" y="${top + 20}" class="h">${esc(c.title)}</text>`)
  parts.push(`<text x="${left + 12}" y="${top + 36}" class="l">${esc(c.subtitle)}</text>`)
  parts.push(`<line x1="${x0}" y1="${y0 + h}" x2="${x0 + w}" y2="${y0 + h}" class="a"/>`)
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + h}" class="a"/>`)
  for (const tick of [0, 1]) {
    parts.push(`<text x="${x0 - 6}" y="${f1(py(tick) + 4)}" class="v" text-anchor="end">${tick}×</text>`)
    if (tick > 0) parts.push(`<line x1="${x0}" y1="${f1(py(tick))}" x2="${x0 + w}" y2="${f1(py(tick))}" class="t"/>`)
  }
  if (goal !== undefined) {
    parts.push(`<line x1="${x0}" y1="${f1(py(goal))}" x2="${x0 + w}" y2="${f1(py(goal))}" class="g"/>`)
    parts.push(`<text x="${x0 - 6}" y="${f1(py(goal) + 4)}" class="gv" text-anchor="end">${goal}×</text>`)
  }
  const line = (values, cls) =>
    `<polyline points="${values.map((v, i) => `${f1(px(xs[i]))},${f1(py(Math.min(v, yMax)))}`).join(' ')}" class="${cls}"/>`
  if (p99.length) {
    parts.push(line(p99, 'q'))
    p99.forEach((v, i) => {
      if (v <= yMax) return
      const anchor = i === 0 ? 'start' : i === p99.length - 1 ? 'end' : 'middle'
      parts.push(`<text x="${f1(px(xs[i]))}" y="${f1(py(yMax) - 3)}" class="qv" text-anchor="${anchor}">p99 ${v.toFixed(1)}× ↑</text>`)
    })
  }
  parts.push(line(costs, 'p'))
  c.rows.forEach((r, i) => {
    const x = f1(px(xs[i]))
    parts.push(`<circle cx="${x}" cy="${f1(py(costs[i]))}" r="3" class="d"/>`)
    const anchor = i === 0 ? 'start' : i === c.rows.length - 1 ? 'end' : 'middle'
    // Below the point while it is under the goal line (which runs just above 1x), above otherwise.
    const below = goal !== undefined && costs[i] < goal
    parts.push(`<text x="${x}" y="${f1(py(costs[i]) + (below ? 15 : -8))}" class="v" text-anchor="${anchor}">${costs[i].toFixed(2)}×</text>`)
    parts.push(`<text x="${x}" y="${y0 + h + 14}" class="v" text-anchor="middle">${shortCount(r.point)}</text>`)
  })
  parts.push(`<text x="${x0 + w / 2}" y="${y0 + h + 30}" class="l" text-anchor="middle">${esc(c.x)} (log scale)</text>`)
  const last = c.rows[c.rows.length - 1]
  const verdict =
    goal !== undefined
      ? `${last.cost.toFixed(2)}× at ${shortCount(last.point)}: goal ≤ ${goal}× ${last.cost <= goal ? 'met' : 'not met'}`
      : c.goal?.note ?? ''
  parts.push(`<text x="${left + 12}" y="${top + PANEL_H - 10}" class="l">${esc(verdict)}${p99.length ? '  (solid p50, dotted p99)' : ''}</text>`)
  return parts
}

/** The SVG document for a curves report ({ date, machine, curves, redisMemory? }). */
export function drawCurves(report) {
  const parts = []
  const rows = Math.ceil(report.curves.length / COLUMNS)
  report.curves.forEach((c, k) => {
    parts.push(...panel(c, GAP + (k % COLUMNS) * (PANEL_W + GAP), GAP + Math.floor(k / COLUMNS) * (PANEL_H + GAP)))
  })
  const width = GAP + Math.min(COLUMNS, report.curves.length) * (PANEL_W + GAP)
  let y = GAP + rows * (PANEL_H + GAP) + 4
  const m = report.redisMemory
  if (m) {
    parts.push(`<text x="${GAP}" y="${y}" class="l">${esc(`Redis memory per live grant: ${m.bytesPerGrant} bytes (used_memory growth while ${m.grants.toLocaleString('en')} grants were written, divided by their number)`)}</text>`)
    y += 18
  }
  const machine = report.machine ?? {}
  parts.push(`<text x="${GAP}" y="${y}" class="v">${esc(`${report.date} · ${machine.cores} cores, ${machine.cpu}, node ${machine.node} · cost relative to each curve's smallest point, measured in the same run`)}</text>`)
  const height = y + 14
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<style>.h{font-size:13px;font-weight:bold}.l{font-size:11px;fill:#333}.v{font-size:10px;fill:#444}.gv{font-size:10px;fill:#c33}.qv{font-size:10px;fill:#b86b00}.f{fill:#fafafa;stroke:#ddd}.a{stroke:#888}.t{stroke:#ccc}.g{stroke:#c33;stroke-dasharray:5 4}.p{fill:none;stroke:#2f6db5;stroke-width:2}.q{fill:none;stroke:#e08a1e;stroke-width:1.5;stroke-dasharray:2 3}.d{fill:#2f6db5}</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`
}
