#!/usr/bin/env node
// Writes the current benchmark table into docs/benchmarks.md, between its two markers, from
// bench/results/latest.json (which `npm run bench` gathers). The table is only ever made by this
// script, so the figures in the docs are the ones in the committed results; history stays in git.
//
//   node bench/readme-table.js            # rewrite the table in docs/benchmarks.md
//   node bench/readme-table.js --check    # exit 1 when the committed table is not what the results make
//   node bench/readme-table.js --results FILE --doc FILE   # other files (the tests use these)
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(import.meta.dirname, '..')
export const START = '<!-- bench-table:start (node bench/readme-table.js writes this table) -->'
export const END = '<!-- bench-table:end -->'

const day = (iso) => (iso ? iso.slice(0, 10) : '—')
const int = (n) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
const pct = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`
const ratio = (x) => `${x >= 10 ? x.toFixed(1) : x.toFixed(3)} ×`
const mb = (x) => `${x.toFixed(1)} MB`

/** The markdown table (with its heading line) for one results object, as latest.json holds it. */
export function renderTable(results) {
  const machine = results.machine ?? {}
  const lines = [
    `From \`bench/results/latest.json\` of ${day(results.date)}. Issuance and verification ran on ${machine.cores} cores of ${machine.cpu}, Node ${machine.node}, with the load generator and Redis on the same cores; each row names the day its benchmark last ran, on the machine recorded in its own \`bench/results/*.json\`. Ratios are to baselines measured in the same run, so they move less than the absolute figures from one machine to another.`,
    '',
    '| scenario | result | ratio | run |',
    '|---|---|---|---|',
  ]
  const row = (...cells) => lines.push(`| ${cells.join(' | ')} |`)
  const trivial = new Map(results.scenarios.filter((s) => s.name.startsWith('trivial')).map((s) => [s.connections, s]))
  for (const s of results.scenarios.filter((s) => s.name.startsWith('issuance'))) {
    const r = results.ratios.find((x) => x.connections === s.connections)
    const base = trivial.get(s.connections)
    row(
      `issuance, \`POST /oauth/token\`, ${s.connections} connection${s.connections === 1 ? '' : 's'}`,
      `${int(s.requestsPerSecond)} tokens/s, p99 ${s.latencyMs.p99} ms${base ? ` (trivial route: ${int(base.requestsPerSecond)}/s)` : ''}`,
      r ? `${ratio(r.vsTrivialRoute)} the trivial route, ${ratio(r.vsRawSigning)} raw signing` : '—',
      day(results.date),
    )
  }
  const v = results.verification
  if (v) {
    for (const r of v.rates) {
      row(
        `verification, ${r.token === 'cold' ? 'fresh' : 'repeated'} token, liveness \`${r.liveness}\``,
        `${int(r.perSecond)}/s`,
        `${ratio(r.vsJose)} raw jose`,
        day(v.date),
      )
    }
    const p = v.revocationPropagation
    if (p) {
      row(
        `revocation reaching ${p.verifiers} verifiers (from sending \`POST /oauth/revoke\`)`,
        `p50 ${p.allRejectingMs.p50} ms, p99 ${p.allRejectingMs.p99} ms`,
        `goal p99 ≤ ${p.goalP99Ms} ms: ${p.metGoal ? 'met' : 'not met'}`,
        day(v.date),
      )
    }
  }
  const m = results.mcpToolCall
  if (m) {
    row(
      'MCP tool call, example server protected (liveness `redis`, warm token) vs unprotected, SDK client',
      `p50 ${m.protectedMs.p50} ms vs ${m.unprotectedMs.p50} ms, p99 ${m.protectedMs.p99} ms vs ${m.unprotectedMs.p99} ms`,
      `p50 ${ratio(m.ratio.p50)}, p99 ${ratio(m.ratio.p99)}; goal p50 ≤ ${m.goal.maxRatioP50} ×: ${m.ratio.p50 <= m.goal.maxRatioP50 ? 'met' : 'not met'}`,
      day(m.date),
    )
  }
  const b = results.bulkRevocation
  if (b) row(`bulk revocation of ${int(b.grants)} grants of one client`, `${(b.revokeMs / 1000).toFixed(1)} s`, `${int(b.grantsPerSecond)} grants/s`, day(b.date))
  const a = results.auditOverhead
  if (a) {
    for (const l of a.levels) {
      row(
        `audit log on vs off, CPU per token, ${l.connections} connection${l.connections === 1 ? '' : 's'}`,
        `${pct(l.overhead)} (95 % CI ${pct(l.overheadCi95[0])} .. ${pct(l.overheadCi95[1])}) of ${l.cpuMicrosPerToken.off} µs`,
        `goal ≤ ${Math.round(a.goal.maxOverhead * 100)} %: ${l.overhead <= a.goal.maxOverhead ? 'met' : 'not met'}`,
        day(a.date),
      )
    }
  }
  const ap = results.auditPath
  if (ap) {
    row(
      'audit path apart from HTTP, per grant',
      `+${ap.added.brokerMicrosPerGrant} µs broker CPU, +${ap.added.redisMicrosPerGrant} µs Redis CPU`,
      `of ${ap.off.brokerMicrosPerGrant} / ${ap.off.redisMicrosPerGrant} µs without the log`,
      day(ap.date),
    )
  }
  const overheads = [
    ['metrics and tracing (a recording trace SDK) on vs off', results.observabilityOverhead],
    ['metrics on vs off (no trace SDK)', results.metricsOverhead],
    ['a recording trace SDK on vs off (no metrics)', results.traceSdkOverhead],
    // What a service chooses: measured, with no goal of writ's.
    ['a trace SDK sampling every request out on vs off (no metrics)', results.traceSdkSampledOutOverhead, 'writ\'s calls into the SDK, nothing recorded'],
    ['a recording trace SDK and its context manager on vs off (no metrics)', results.traceSdkContextManagerOverhead, 'the setup other instrumentations need'],
  ]
  for (const [what, o, instead] of overheads) {
    if (!o) continue
    for (const l of o.levels) {
      row(
        `${what}, CPU per token, ${l.connections} connection${l.connections === 1 ? '' : 's'}`,
        `${pct(l.overhead)} (95 % CI ${pct(l.overheadCi95[0])} .. ${pct(l.overheadCi95[1])}) of ${l.cpuMicrosPerToken.off} µs`,
        instead === undefined
          ? `goal ≤ ${Math.round(o.goal.maxOverhead * 100)} %: ${l.overhead <= o.goal.maxOverhead ? 'met' : 'not met'}`
          : instead,
        day(o.date),
      )
    }
  }
  const d = results.delegation
  if (d) {
    const e = d.exchange
    row(
      `token exchange (RFC 8693) vs client credentials, ${e.connections} connections`,
      `${int(e.exchangesPerSecond)} exchanges/s, ${int(e.clientCredentialsPerSecond)} tokens/s`,
      `${ratio(e.ratio)} client-credentials issuance`,
      day(d.date),
    )
    const t = d.subtree
    row(
      `subtree revocation: ${int(t.treeGrants)} grants, ${t.verifiers} verifiers (liveness \`redis\`)`,
      `every member refused at every verifier: p50 ${t.refusedMs.p50} ms, p99 ${t.refusedMs.p99} ms`,
      `goal p99 ≤ ${t.goalP99Ms} ms: ${t.metGoal ? 'met' : 'not met'}`,
      day(d.date),
    )
  }
  const pe = results.peer
  if (pe) {
    row(
      `issuance against node-oidc-provider (ES256 JWT access tokens by client credentials), ${pe.connections} connections`,
      `writ ${int(pe.median.writPerSecond)} tokens/s, peer ${int(pe.median.peerPerSecond)}/s, trivial route ${int(pe.median.trivialPerSecond)}/s`,
      `${ratio(pe.ratios.vsPeer)} the peer (goal ≥ ${pe.goals.vsPeer}), ${ratio(pe.ratios.vsTrivialRoute)} the trivial route (goal ≥ ${pe.goals.vsTrivialRoute})`,
      day(pe.date),
    )
    if (pe.floor) {
      row(
        'the floor: a route on the same stack that only writes a grant and its audit event to Redis and signs (bench/floor-server.js)',
        `${int(pe.median.floorPerSecond)} tokens/s; writ ${ratio(pe.ratios.vsFloor)} the floor`,
        `the floor is ${ratio(pe.floor.vsPeer)} the peer and ${ratio(pe.floor.vsTrivialRoute)} the trivial route: no writ can do better`,
        day(pe.date),
      )
    }
  }
  const sc = results.scaling
  if (sc) {
    for (const c of sc.curves) {
      const first = c.rows[0]
      const last = c.rows[c.rows.length - 1]
      const cost = (r) => r.cost ?? 1 / r.ratio
      const latency = c.kind === 'latency'
      const result = latency
        ? `${c.x}: ${c.rows.map((r) => `${int(r.point)} → p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`).join('; ')}`
        : `${c.x}: ${c.rows.map((r) => `${int(r.point)} → ${int(r.perSecond)}/s`).join(', ')}`
      const versus = latency
        ? `p50 ${ratio(cost(last))}, p99 ${ratio(last.p99Cost)} the time at ${int(first.point)}`
        : `${ratio(last.ratio)} the rate at ${int(first.point)} ${c.x}`
      const max = c.goal?.maxCost
      const goal = max !== undefined ? `; goal cost ≤ ${max} ×: ${cost(last) <= max ? 'met' : 'not met'}` : c.goal?.note ? `; ${c.goal.note}` : ''
      row(c.name, result, `${versus}${goal}`, day(sc.date))
    }
    const m = sc.redisMemory
    if (m) {
      row(
        'Redis memory per live grant (record, id pointer, live and task index entries)',
        `${int(m.bytesPerGrant)} bytes`,
        `\`used_memory\` growth over ${int(m.grants)} grants`,
        day(sc.date),
      )
    }
  }
  const s = results.soak
  if (s) {
    const g = s.growth
    row(
      `soak, ${Math.round(s.durationSeconds / 60)} min, ${s.workers} workers`,
      `${int(s.operations.issued)} issued and verified, ${int(s.operations.revoked)} revoked (${int(s.operations.revocationsSeen)} seen by the verifier), ${s.errors} errors`,
      `${int(s.perSecond.issued)} tokens/s`,
      day(s.date),
    )
    row(
      'soak memory, after warm-up: broker RSS / verifier heap / Redis',
      `${mb(g.brokerRss.firstMb)} → ${mb(g.brokerRss.lastMb)} / ${mb(g.verifierHeap.firstMb)} → ${mb(g.verifierHeap.lastMb)} / ${mb(g.redisUsed.firstMb)} → ${mb(g.redisUsed.lastMb)}`,
      '—',
      day(s.date),
    )
  }
  if (sc) {
    lines.push(
      '',
      `The scaling curves, each point's cost relative to its curve's smallest point: [bench/results/curves.svg](../bench/results/curves.svg) (figures in \`bench/results/curves.json\`).`,
    )
  }
  return lines.join('\n')
}

/** The document with the text between its markers replaced by the table for these results. */
export function withTable(doc, results) {
  const i = doc.indexOf(START)
  const j = doc.indexOf(END)
  if (i < 0 || j < i) throw new Error(`the document has no ${START} … ${END} markers`)
  return `${doc.slice(0, i + START.length)}\n${renderTable(results)}\n${doc.slice(j)}`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: args } = parseArgs({
    options: {
      check: { type: 'boolean', default: false },
      results: { type: 'string', default: join(root, 'bench/results/latest.json') },
      doc: { type: 'string', default: join(root, 'docs/benchmarks.md') },
    },
  })
  const doc = readFileSync(args.doc, 'utf8')
  const next = withTable(doc, JSON.parse(readFileSync(args.results, 'utf8')))
  if (args.check) {
    if (next !== doc) {
      console.error(`${args.doc}: the benchmark table is not the one ${args.results} makes: run node bench/readme-table.js`)
      process.exit(1)
    }
  } else if (next !== doc) {
    writeFileSync(args.doc, next)
    console.log(`wrote the benchmark table in ${args.doc}`)
  }
}
