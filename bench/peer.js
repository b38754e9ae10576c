#!/usr/bin/env node
// writ against its peer, in one run: issuance over HTTP by writ (on Redis, recording the grant and
// its audit event) and by node-oidc-provider (bench/peer-provider.js: ES256 JWT access tokens by
// client credentials, in memory), each in its own process, with writ's trivial route as the second
// baseline, and the floor (bench/floor-server.js: the least a route on writ's stack can do while
// writing a grant and its audit event to Redis and signing, which bounds what any writ could
// reach). Rounds interleave the four so drift of the shared machine falls on all of them; each round
// gives ratios, and the report gives the median ratio.
// Goals (issue: cost and peers): writ ≥ 1.5× the peer and ≥ 0.5× the trivial route.
//
//   node bench/peer.js [--duration 3] [--rounds 4] [--connections 16]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { deletePrefix, freePort, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '16' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const duration = Number(args.duration)
const rounds = Number(args.rounds)
const connections = Number(args.connections)
const redisUrl = args['redis-url']

const cannon = (opts) =>
  new Promise((res, rej) => autocannon({ duration, connections, ...opts }, (err, r) => (err ? rej(err) : res(r))))

const form = (base, path, user, secret, params) => ({
  url: `${base}${path}`,
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`,
  },
  body: new URLSearchParams(params).toString(),
})

/** A child process that prints `ready ...` once it listens. */
async function startServer(script, argv) {
  const child = spawn(process.execPath, [join(root, script), ...argv], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise((res, rej) => {
    child.stdout.once('data', res)
    child.once('exit', () => rej(new Error(`${script} did not start`)))
  })
  return child
}

async function startFloor() {
  const port = await freePort()
  const prefix = `bench-floor-${randomBytes(4).toString('hex')}:`
  const child = await startServer('bench/floor-server.js', [String(port), redisUrl, prefix])
  return { base: `http://127.0.0.1:${port}`, prefix, child }
}

async function startPeer() {
  const port = await freePort()
  const secret = randomBytes(24).toString('base64url')
  const child = await startServer('bench/peer-provider.js', [String(port), secret])
  return { base: `http://127.0.0.1:${port}`, secret, child }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function rate(name, r) {
  if (r.errors + r.timeouts + r.non2xx > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
  return r.requests.average
}

async function main() {
  const writ = await startBenchBroker({ redisUrl, name: 'peer-writ' })
  const peer = await startPeer()
  const floor = await startFloor()
  const rows = []
  try {
    const writIssue = form(writ.base, '/oauth/token', 'bench-agent', writ.secret, {
      grant_type: 'client_credentials',
      task_id: 'BENCH-PEER',
      authorization_details: JSON.stringify([
        { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
      ]),
    })
    const peerIssue = form(peer.base, '/token', 'bench-peer', peer.secret, { grant_type: 'client_credentials', scope: 'read' })
    const trivial = { url: `${writ.base}/healthz` }
    const floorIssue = { ...writIssue, url: `${floor.base}/token` }
    const requests = { writ: writIssue, peer: peerIssue, trivial, floor: floorIssue }
    // Warm up the servers (JIT, caches, scripts).
    await cannon({ ...writIssue, duration: 2 })
    await cannon({ ...peerIssue, duration: 2 })
    await cannon({ ...floorIssue, duration: 2 })
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so neither side always runs first in a round.
      const order = round % 2 ? ['peer', 'writ', 'floor', 'trivial'] : ['writ', 'peer', 'trivial', 'floor']
      const row = {}
      for (const what of order) row[what] = Math.round(rate(what, await cannon(requests[what])))
      rows.push(row)
    }
  } finally {
    writ.child.kill('SIGTERM')
    peer.child.kill('SIGTERM')
    floor.child.kill('SIGTERM')
    await deletePrefix(redisUrl, writ.prefix)
    await deletePrefix(redisUrl, floor.prefix)
  }
  const ratio = (a, b) => +median(rows.map((r) => r[a] / r[b])).toFixed(3)
  const vsPeer = median(rows.map((r) => r.writ / r.peer))
  const vsTrivial = median(rows.map((r) => r.writ / r.trivial))
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    durationSeconds: duration,
    connections,
    rounds: rows,
    median: {
      writPerSecond: Math.round(median(rows.map((r) => r.writ))),
      peerPerSecond: Math.round(median(rows.map((r) => r.peer))),
      trivialPerSecond: Math.round(median(rows.map((r) => r.trivial))),
      floorPerSecond: Math.round(median(rows.map((r) => r.floor))),
    },
    ratios: { vsPeer: +vsPeer.toFixed(3), vsTrivialRoute: +vsTrivial.toFixed(3), vsFloor: ratio('writ', 'floor') },
    goals: { vsPeer: 1.5, vsTrivialRoute: 0.5 },
    // The most any writ could reach on this stack and machine: the floor's own ratios.
    floor: { vsPeer: ratio('floor', 'peer'), vsTrivialRoute: ratio('floor', 'trivial') },
  }
  console.log(`\nwrit vs node-oidc-provider — ${connections} connections, ${rounds} rounds of ${duration}s`)
  for (const r of rows) console.log(`  writ ${r.writ}/s  peer ${r.peer}/s  trivial ${r.trivial}/s  floor ${r.floor}/s`)
  console.log(`  median: writ = ${report.ratios.vsPeer} x the peer (goal >= 1.5), ${report.ratios.vsTrivialRoute} x the trivial route (goal >= 0.5)`)
  console.log(`  the floor (bench/floor-server.js) = ${report.floor.vsPeer} x the peer, ${report.floor.vsTrivialRoute} x the trivial route; writ = ${report.ratios.vsFloor} x the floor`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/peer.json'), JSON.stringify(report, null, 2) + '\n')
  console.log('wrote bench/results/peer.json')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
