// Shared harness for the benchmarks: a broker process on the Redis store with a bench client, free
// ports, private redis-servers, cleanup of the random key prefix each run uses, pinning processes
// to a CPU and reading their CPU time. Not a test helper: benches only.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { hash } from '@node-rs/argon2'
import Redis from 'ioredis'

export const root = resolve(import.meta.dirname, '..')

/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })

/** Deletes every key under a bench run's prefix. */
export async function deletePrefix(redisUrl, prefix) {
  const redis = new Redis(redisUrl)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length) await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()
}

/**
 * A policy with one client, `bench-agent`, allowed to read docs and call MCP tools on
 * loopback, with no quota in the way.
 * `rulesAhead` adds that many rules the client may use before the matching one, each for another
 * repository (none covers the bench grant), to measure how decisions scale with policy size.
 */
export async function writeBenchPolicy(dir, secret, { rulesAhead = 0 } = {}) {
  const policyFile = join(dir, 'policy.yaml')
  const secretHash = await hash(secret, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })
  const ahead = Array.from({ length: rulesAhead }, (_, i) => `other-${i}`)
  const aheadRules = ahead
    .map(
      (id, i) =>
        `  - { id: ${id}, match: { type: repo, actions: [read], locations: ["https://git.example.com/team-${i}/*"], identifier: "docs/**" }, max_ttl: 15m, approval: none }\n`,
    )
    .join('')
  writeFileSync(
    policyFile,
    `version: 1
clients:
  - id: bench-agent
    auth: client_secret
    secret_hash: "${secretHash}"
    rules: [${[...ahead, 'docs-read', 'mcp-tools'].join(', ')}]
    max_live_grants: 1000000
rules:
${aheadRules}  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: mcp-tools
    match: { type: mcp, actions: [tools/call], locations: ["http://127.0.0.1:*/mcp"], identifier: "*" }
    max_ttl: 15m
    approval: none
`,
  )
  return policyFile
}

/** A config file lifting the per-client rate limit, which would otherwise cap the load driven. */
export function benchConfigFile(policyFile, extra = {}) {
  const file = join(dirname(policyFile), 'config.json')
  writeFileSync(
    file,
    JSON.stringify({ limits: { clientRequestsPerSecond: 1_000_000, clientBurst: 1_000_000 }, ...extra }),
  )
  return file
}

/**
 * Starts `node dist/main.js` on the Redis store under a fresh key prefix with the bench client
 * (`config` adds to the broker config), and waits until `/readyz` answers. Returns its URL, the process, the client secret and prefix.
 */
export async function startBenchBroker({ redisUrl, name = 'bench', env = {}, args = [], nodeArgs = [], config = {}, rulesAhead = 0 }) {
  const dir = mkdtempSync(join(tmpdir(), `writ-${name}-`))
  const secret = randomBytes(24).toString('base64url')
  const policyFile = await writeBenchPolicy(dir, secret, { rulesAhead })
  const port = await freePort()
  const prefix = `writ-${name}-${randomBytes(4).toString('hex')}:`
  const child = spawn(process.execPath, [...nodeArgs, 'dist/main.js', ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      // The URL the benches call is the issuer their verifiers expect.
      WRIT_ISSUER: `http://127.0.0.1:${port}`,
      REDIS_URL: redisUrl,
      WRIT_KEY_PREFIX: prefix,
      WRIT_KEK: randomBytes(32).toString('base64'),
      WRIT_POLICY: policyFile,
      WRIT_CONFIG: benchConfigFile(policyFile, config),
      WRIT_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  await waitUntilReady(base, child)
  return { base, child, secret, prefix, dir }
}

/** Waits until the broker at `base` answers `/readyz`; throws when `child` exits or time runs out. */
export async function waitUntilReady(base, child, { what = 'broker', timeoutMs = 20_000 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} did not start`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts a private, non-persistent redis-server on a free port; resolves once it answers PING. */
export async function startRedisServer() {
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()],
    { stdio: 'ignore' },
  )
  const url = `redis://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      probe.disconnect()
      return { url, child }
    } catch {
      probe.disconnect()
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL')
        throw new Error('redis-server did not start')
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

/**
 * Pins every thread of a process to one CPU (`taskset -a -p -c`), where Linux and taskset allow;
 * returns whether it did. Benches that compare CPU time per request pin the servers apart from
 * the load generator, so a run does not depend on how the scheduler happened to mix them.
 */
export function pinToCpu(pid, cpu) {
  if (cpus().length < 2) return false
  const result = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
  return result.status === 0
}

/** Whether /proc gives per-thread scheduler run times (Linux): then CPU time is measured. */
export const schedstat = existsSync('/proc/self/task') && existsSync('/proc/self/schedstat')

/**
 * CPU seconds a process has run so far, all its threads (the JS thread and V8's and libuv's
 * helpers) together, or null without /proc. The scheduler's run time in nanoseconds
 * (`/proc/<pid>/task/<tid>/schedstat`), not the tick-sampled utime/stime: processes that run in
 * bursts of a few hundred microseconds, like a redis-server serving one connection, are not
 * measured well in 10 ms ticks.
 */
export function cpuSeconds(pid) {
  if (!schedstat) return null
  let ns = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9
}
