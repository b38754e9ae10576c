import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { freePort } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const ROOT = resolve(import.meta.dirname, '../..')
const BOUND_MS = 15_000
const prefix = `writ-example-${randomBytes(6).toString('hex')}:`

let broker: TestBroker
let server: ServerType
let service: ChildProcess
let serviceUrl: string
let output = ''

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + BOUND_MS
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`still not true after ${BOUND_MS} ms: ${what}\n${output}`)
    await sleep(50)
  }
}

/** The loop in docs/verifier.md ("The whole loop"), against examples/downstream-service/server.ts run as it says (tsx). */
beforeAll(async () => {
  const brokerPort = await freePort()
  const issuer = `http://127.0.0.1:${brokerPort}`
  broker = await makeTestBroker({
    config: {
      issuer,
      store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  server = serve({ fetch: broker.app.fetch, port: brokerPort, hostname: '127.0.0.1' })
  const servicePort = await freePort()
  serviceUrl = `http://127.0.0.1:${servicePort}`
  service = spawn(process.execPath, ['--import', 'tsx', 'examples/downstream-service/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, WRIT_ISSUER: issuer, REDIS_URL, WRIT_KEY_PREFIX: prefix, PORT: String(servicePort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  service.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  service.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  await eventually('the example service is up and subscribed', async () => {
    const health = (await (await fetch(`${serviceUrl}/healthz`)).json()) as { subscribed?: boolean }
    return health.subscribed === true ? true : undefined
  })
}, 40_000)

afterAll(async () => {
  if (service && service.exitCode === null) {
    const exited = once(service, 'exit')
    service.kill('SIGTERM')
    await exited
  }
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  await broker?.close()
  const admin = new Redis(REDIS_URL)
  const keys = await admin.keys(`${prefix}*`)
  if (keys.length > 0) await admin.del(...keys)
  await admin.quit()
})

describe('the downstream-service example (docs/verifier.md: "The whole loop")', () => {
  it('serves a token holder, refuses what its grants do not cover, and refuses the token once revoked', async () => {
    const issued = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    expect(issued.status).toBe(200)
    const token: string = (await issued.json()).access_token
    const get = (path: string, init: RequestInit = {}) =>
      fetch(`${serviceUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } })

    const read = await get('/docs/README.md')
    expect(read.status).toBe(200)
    expect(read.headers.get('x-writ-task')).toBe('JIRA-4711')
    expect((await get('/docs/notes.md', { method: 'PUT', body: 'x' })).status).toBe(204)
    expect((await fetch(`${serviceUrl}/docs/README.md`)).status).toBe(401)

    const revoked = await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })
    expect(revoked.status).toBe(200)
    const refused = await eventually('the service refuses the revoked token', async () => {
      const res = await get('/docs/README.md')
      return res.status === 401 ? res : undefined
    })
    expect(refused.headers.get('www-authenticate')).toBe(
      'Bearer realm="acme-app-docs", error="invalid_token", error_description="the token has been revoked"',
    )
  })
})
