#!/usr/bin/env node
// MCP tool-call latency: the example MCP server (examples/mcp-server, the official SDK over Node
// http) protected by writ/verifier (liveness `redis`, a warm token) against the same server
// unprotected, both in this process, each called by the SDK's own client. Calls alternate between
// the two so both see the same machine; p50/p99 of each and their ratio (goal: ≤ 1.1× at p50).
// The example is TypeScript importing src/, loaded through tsx.
//
//   node bench/mcp.js --calls 2000
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { tsImport } from 'tsx/esm/api'
import { deletePrefix, freePort, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const CALLS = Number(args.calls)
const WARMUP = Number(args.warmup)
const REDIS_URL = args['redis-url']

const { startMcpExample } = await tsImport('../examples/mcp-server/app.ts', import.meta.url)
const { createMcpProtection } = await tsImport('../src/verifier/index.ts', import.meta.url)

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
const round = (n, d = 3) => +n.toFixed(d)

async function connect(url, token) {
  const client = new Client({ name: 'bench', version: '1.0.0' })
  const headers = token ? { Authorization: `Bearer ${token}` } : {}
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  return client
}

const broker = await startBenchBroker({ redisUrl: REDIS_URL, name: 'bench-mcp' })
let protectedServer
let openServer
try {
  const port = await freePort()
  const resource = `http://127.0.0.1:${port}/mcp`
  const protection = createMcpProtection({
    resource,
    issuer: broker.base,
    jwksUri: `${broker.base}/.well-known/jwks.json`,
    liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: broker.prefix },
  })
  protectedServer = await startMcpExample({ protection, port })
  openServer = await startMcpExample({ port: await freePort() })

  const issued = await fetch(`${broker.base}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`bench-agent:${broker.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-MCP',
      authorization_details: JSON.stringify([{ type: 'mcp', actions: ['tools/call'], locations: [resource], identifier: 'search_docs' }]),
    }).toString(),
  })
  if (issued.status !== 200) throw new Error(`issuance answered ${issued.status}: ${await issued.text()}`)
  const token = (await issued.json()).access_token

  const clients = { protected: await connect(protectedServer.url, token), unprotected: await connect(openServer.url) }
  const samples = { protected: [], unprotected: [] }
  const request = { name: 'search_docs', arguments: { query: 'build' } }
  for (let i = 0; i < WARMUP + CALLS; i++) {
    // Alternate which goes first, so neither always follows the other.
    const order = i % 2 === 0 ? ['protected', 'unprotected'] : ['unprotected', 'protected']
    for (const which of order) {
      const start = performance.now()
      const result = await clients[which].callTool(request)
      const ms = performance.now() - start
      if (result.isError) throw new Error(`${which} call failed: ${JSON.stringify(result.content)}`)
      if (i >= WARMUP) samples[which].push(ms)
    }
  }
  await clients.protected.close()
  await clients.unprotected.close()

  const summary = (list) => {
    list.sort((a, b) => a - b)
    return { p50: round(percentile(list, 50)), p99: round(percentile(list, 99)) }
  }
  const p = summary(samples.protected)
  const u = summary(samples.unprotected)
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
    calls: CALLS,
    liveness: 'redis',
    protectedMs: p,
    unprotectedMs: u,
    ratio: { p50: round(p.p50 / u.p50), p99: round(p.p99 / u.p99) },
    goal: { maxRatioP50: 1.1 },
    metGoal: p.p50 / u.p50 <= 1.1,
  }
  console.log(JSON.stringify(result, null, 2))
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/mcp.json'), JSON.stringify(result, null, 2) + '\n')
} finally {
  await protectedServer?.close()
  await openServer?.close()
  broker.child.kill('SIGTERM')
  await deletePrefix(REDIS_URL, broker.prefix)
}
