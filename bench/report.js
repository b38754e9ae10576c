#!/usr/bin/env node
// `npm run bench`: runs the benchmarks, then gathers their results into bench/results/latest.json
// and draws bench/results/latest.svg (throughput and latency per scenario; memory over time when a
// soak has run). `npm run bench -- --soak 10m` runs the soak instead (bench/soak.js).
//
//   npm run bench                              # issuance, bulk revocation, verification, MCP tool calls, audit, audit path, workers, delegation, scaling curves, the peer
//   npm run bench -- --duration 10 --connections 1,16,64
//   npm run bench -- --quick                   # the scaling curves with short points (bench/curves.js --quick)
//   npm run bench -- --soak 10m                # issuance + verification + revocation for 10 min
//   node bench/report.js --chart-only          # redraw from the existing results
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const root = resolve(import.meta.dirname, '..')
const results = join(root, 'bench/results')
const { values: args } = parseArgs({
  options: {
    soak: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    'chart-only': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
})

function run(script, scriptArgs = []) {
  console.log(`\n== node bench/${script} ${scriptArgs.join(' ')}`)
  const { status } = spawnSync(process.execPath, [join(root, 'bench', script), ...scriptArgs], { stdio: 'inherit', cwd: root })
  if (status !== 0) {
    console.error(`bench/${script} failed (exit ${status})`)
    process.exitCode = 1
  }
}

const read = (name) => {
  const file = join(results, name)
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined
}

if (!args['chart-only']) {
  if (args.soak !== undefined) {
    run('soak.js', ['--duration', args.soak])
  } else {
    const issuanceArgs = [
      ...(args.duration ? ['--duration', args.duration] : []),
      ...(args.connections ? ['--connections', args.connections] : []),
    ]
    run('run.js', issuanceArgs)
    run('revocation.js')
    run('verify.js')
    run('mcp.js')
    // The audit bench keeps its own run length: its method is many short paired runs.
    run('audit.js', args.connections ? ['--connections', args.connections] : [])
    run('audit-path.js')
    // Metrics and tracing together, then each alone: writ's metrics, and the trace SDK with writ's
    // spans; then the SDK sampling everything out (writ's calls into it), and the SDK with the
    // context manager a service adds for other instrumentations.
    for (const variant of [['full'], ['metrics'], ['sdk'], ['sdk', '--sampled-out'], ['sdk', '--context-manager']]) {
      run('observability.js', ['--variant', ...variant, ...(args.connections ? ['--connections', args.connections] : [])])
    }
    if (existsSync(join(root, 'bench/workers.js'))) run('workers.js')
    run('delegation.js')
    run('curves.js', args.quick ? ['--quick'] : [])
    run('peer.js')
  }
}

// ---- gather ------------------------------------------------------------------------------------

const issuance = read('latest.json')
if (!issuance) {
  console.error('no bench/results/latest.json: run `npm run bench` first')
  process.exit(1)
}
const verify = read('verify.json')
const bulk = read('revocation.json')
const soak = read('soak.json')
const audit = read('audit.json')
const auditPath = read('audit-path.json')
const curves = read('curves.json')
const peer = read('peer.json')
const mcp = read('mcp.json')
const observability = read('observability.json')
const observabilityMetrics = read('observability-metrics.json')
const observabilitySdk = read('observability-sdk.json')
const observabilitySdkContextManager = read('observability-sdk-context-manager.json')
const observabilitySdkSampledOut = read('observability-sdk-sampled-out.json')
const delegation = read('delegation.json')
const { samples: soakSamples = [], firstErrors: _ignored, ...soakSummary } = soak ?? {}
/** An overhead bench's result (on vs off per level, against its goal), if it ran. */
const overhead = (result) => (result ? { date: result.date, levels: result.levels, goal: result.goal } : undefined)
const report = {
  ...issuance,
  verification: verify ? { date: verify.date, rates: verify.rates, revocationPropagation: verify.revocation } : undefined,
  bulkRevocation: bulk
    ? { date: bulk.date, grants: bulk.grants, revokeMs: bulk.writ?.revokeMs, grantsPerSecond: bulk.writ?.grantsPerSecond }
    : undefined,
  soak: soak ? soakSummary : undefined,
  auditOverhead: overhead(audit),
  auditPath: auditPath ? { date: auditPath.date, off: auditPath.off, on: auditPath.on, added: auditPath.added } : undefined,
  scaling: curves ? { date: curves.date, curves: curves.curves, redisMemory: curves.redisMemory } : undefined,
  peer: peer ? { date: peer.date, connections: peer.connections, median: peer.median, ratios: peer.ratios, goals: peer.goals, floor: peer.floor } : undefined,
  mcpToolCall: mcp
    ? { date: mcp.date, calls: mcp.calls, protectedMs: mcp.protectedMs, unprotectedMs: mcp.unprotectedMs, ratio: mcp.ratio, goal: mcp.goal }
    : undefined,
  observabilityOverhead: overhead(observability),
  metricsOverhead: overhead(observabilityMetrics),
  traceSdkOverhead: overhead(observabilitySdk),
  traceSdkSampledOutOverhead: overhead(observabilitySdkSampledOut),
  traceSdkContextManagerOverhead: overhead(observabilitySdkContextManager),
  delegation: delegation ? { date: delegation.date, exchange: delegation.exchange, subtree: delegation.subtree } : undefined,
}
writeFileSync(join(results, 'latest.json'), JSON.stringify(report, null, 2) + '\n')

// ---- chart -------------------------------------------------------------------------------------

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const fmt = (n) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : String(Math.round(n * 10) / 10))
const W = 900
const parts = []
let y = 0

/** A horizontal bar chart: one row per item, bars scaled to the largest value (log scale if wide). */
function bars(title, items, unit) {
  const max = Math.max(...items.flatMap((i) => i.values.map((v) => v.value)), 1)
  const min = Math.min(...items.flatMap((i) => i.values.map((v) => v.value)).filter((v) => v > 0), max)
  const log = max / min > 200
  const scale = (v) => (v <= 0 ? 0 : log ? Math.max(0, Math.log10(v) / Math.log10(max)) * 520 : (v / max) * 520)
  parts.push(`<text x="20" y="${y + 24}" class="h">${esc(title)}${log ? ' (log scale)' : ''}</text>`)
  y += 40
  for (const item of items) {
    parts.push(`<text x="20" y="${y + 13}" class="l">${esc(item.label)}</text>`)
    item.values.forEach((v, k) => {
      const w = scale(v.value)
      parts.push(`<rect x="300" y="${y + k * 12}" width="${w.toFixed(1)}" height="10" class="c${k}"/>`)
      parts.push(`<text x="${(304 + w).toFixed(1)}" y="${y + k * 12 + 9}" class="v">${fmt(v.value)} ${esc(unit)}${v.name ? ` ${esc(v.name)}` : ''}</text>`)
    })
    y += Math.max(20, item.values.length * 12 + 8)
  }
  y += 10
}

bars(
  'Throughput (requests or verifications per second)',
  [
    ...issuance.scenarios.map((s) => ({ label: `${s.name}, ${s.connections} conn`, values: [{ value: s.requestsPerSecond }] })),
    ...(verify?.rates ?? []).map((r) => ({
      label: `verify, ${r.token} token, liveness ${r.liveness}`,
      values: [{ value: r.perSecond }],
    })),
    ...(soak ? [{ label: `soak: issue + verify (+ revoke half)`, values: [{ value: soak.perSecond.issued }] }] : []),
  ],
  '/s',
)
bars(
  'Latency, p50 and p99 (ms)',
  [
    ...issuance.scenarios.map((s) => ({
      label: `${s.name}, ${s.connections} conn`,
      values: [
        { value: s.latencyMs.p50, name: 'p50' },
        { value: s.latencyMs.p99, name: 'p99' },
      ],
    })),
    ...(mcp
      ? ['protected', 'unprotected'].map((which) => ({
          label: `MCP tool call, ${which}`,
          values: [
            { value: mcp[`${which}Ms`].p50, name: 'p50' },
            { value: mcp[`${which}Ms`].p99, name: 'p99' },
          ],
        }))
      : []),
    ...(verify?.revocation
      ? [{
          label: `revocation reaches ${verify.revocation.verifiers} verifiers`,
          values: [
            { value: verify.revocation.allRejectingMs.p50, name: 'p50' },
            { value: verify.revocation.allRejectingMs.p99, name: 'p99' },
          ],
        }]
      : []),
  ],
  'ms',
)

if (soakSamples.length >= 2) {
  const series = [
    ['brokerRssMb', 'broker RSS'],
    ['verifierHeapMb', 'verifier heap'],
    ['redisUsedMb', 'Redis used_memory'],
  ]
  const tMax = soakSamples.at(-1).atSeconds || 1
  const vMax = Math.max(...soakSamples.flatMap((s) => series.map(([k]) => s[k])), 1)
  parts.push(`<text x="20" y="${y + 24}" class="h">Soak: memory over ${Math.round(tMax / 60)} min (MB), ${soak.errors} errors</text>`)
  y += 40
  const h = 180
  const x0 = 300
  const w = 520
  parts.push(`<line x1="${x0}" y1="${y + h}" x2="${x0 + w}" y2="${y + h}" class="a"/><line x1="${x0}" y1="${y}" x2="${x0}" y2="${y + h}" class="a"/>`)
  parts.push(`<text x="${x0 - 6}" y="${y + 8}" class="v" text-anchor="end">${fmt(vMax)}</text><text x="${x0 - 6}" y="${y + h}" class="v" text-anchor="end">0</text>`)
  parts.push(`<text x="${x0 + w}" y="${y + h + 14}" class="v" text-anchor="end">${tMax} s</text>`)
  series.forEach(([key, name], k) => {
    const points = soakSamples.map((s) => `${(x0 + (s.atSeconds / tMax) * w).toFixed(1)},${(y + h - (s[key] / vMax) * h).toFixed(1)}`)
    parts.push(`<polyline points="${points.join(' ')}" class="p${k}"/>`)
    parts.push(`<rect x="20" y="${y + k * 18}" width="10" height="10" class="c${k}"/><text x="36" y="${y + k * 18 + 9}" class="l">${esc(name)}</text>`)
  })
  y += h + 30
}

const machine = issuance.machine ?? {}
parts.push(`<text x="20" y="${y + 10}" class="v">${esc(`${issuance.date} · ${machine.cores} cores, ${machine.cpu}, node ${machine.node}`)}</text>`)
y += 24
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">
<style>.h{font-size:15px;font-weight:bold}.l{font-size:12px}.v{font-size:11px;fill:#444}.a{stroke:#888}.c0{fill:#2f6db5}.c1{fill:#e08a1e}.c2{fill:#3a9a4a}.p0,.p1,.p2{fill:none;stroke-width:2}.p0{stroke:#2f6db5}.p1{stroke:#e08a1e}.p2{stroke:#3a9a4a}</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`
writeFileSync(join(results, 'latest.svg'), svg)
console.log('\nwrote bench/results/latest.json and bench/results/latest.svg')
// The table in docs/benchmarks.md is made from latest.json only, by this script.
run('readme-table.js')
