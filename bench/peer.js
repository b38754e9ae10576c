#!/usr/bin/env node
// writ against its peer, in one run: issuance over HTTP by writ (on Redis, recording the grant and
// its audit event) and by node-oidc-provider (bench/peer-provider.js: ES256 JWT access tokens by
// client credentials, in memory), each in its own process, with writ's trivial route as the second
// baseline. Rounds interleave the three (writ, peer, trivial) so drift of the shared machine falls
// on all of them; each round gives ratios, and the report gives the median ratio.
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

async function startPeer() {
  const port = await freePort()
  const secret = randomBytes(24).toString('base64url')
  const child = spawn(process.execPath, [join(root, 'bench/peer-provider.js'), String(port), secret], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  await new Promise((res, rej) => {
    child.stdout.once('data', res)
    child.once('exit', () => rej(new Error('the peer did not start')))
  })
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
    // Warm up both servers (JIT, caches, scripts).
    await cannon({ ...writIssue, duration: 2 })
    await cannon({ ...peerIssue, duration: 2 })
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so neither side always runs first in a round.
      const order = round % 2 ? ['peer', 'writ', 'trivial'] : ['writ', 'peer', 'trivial']
      const row = {}
      for (const what of order) {
        const opts = what === 'writ' ? writIssue : what === 'peer' ? peerIssue : trivial
        row[what] = Math.round(rate(what, await cannon(opts)))
      }
      rows.push(row)
    }
  } finally {
    writ.child.kill('SIGTERM')
    peer.child.kill('SIGTERM')
    await deletePrefix(redisUrl, writ.prefix)
  }
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
    },
    ratios: { vsPeer: +vsPeer.toFixed(3), vsTrivialRoute: +vsTrivial.toFixed(3) },
    goals: { vsPeer: 1.5, vsTrivialRoute: 0.5 },
  }
  console.log(`\nwrit vs node-oidc-provider — ${connections} connections, ${rounds} rounds of ${duration}s`)
  for (const r of rows) console.log(`  writ ${r.writ}/s  peer ${r.peer}/s  trivial ${r.trivial}/s`)
  console.log(`  median: writ = ${report.ratios.vsPeer} x the peer (goal >= 1.5), ${report.ratios.vsTrivialRoute} x the trivial route (goal >= 0.5)`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/peer.json'), JSON.stringify(report, null, 2) + '\n')
  console.log('wrote bench/results/peer.json')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
