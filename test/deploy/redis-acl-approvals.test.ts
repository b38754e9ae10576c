/**
 * The approval paths as the shipped `writ-broker` Redis ACL user (deploy/redis/users.acl): Redis
 * checks the ACL for every command a Lua script calls, so a command the approval scripts use and
 * the file does not grant (as `ZSCORE` once was, in the script that coalesces identical pending
 * requests) fails the request with a 503.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  ADMIN_TOKEN,
  deployManifest,
  enrol,
  json,
  makeApprovalBroker,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { type PrivateRedis, startRedis } from '../helpers/redis.js'

const root = join(import.meta.dirname, '..', '..')
const run = promisify(execFile)
const BROKER_PASSWORD = `broker-${randomBytes(12).toString('hex')}`
const VERIFIER_PASSWORD = `verifier-${randomBytes(12).toString('hex')}`

let dir: string
let redis: PrivateRedis
let broker: ApprovalBroker

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'writ-review-acl-'))
  const rendered = join(dir, 'users.acl')
  await run('sh', [join(root, 'deploy/redis/render-users-acl.sh'), join(root, 'deploy/redis/users.acl'), rendered], {
    env: { PATH: process.env.PATH, WRIT_REDIS_BROKER_PASSWORD: BROKER_PASSWORD, WRIT_REDIS_VERIFIER_PASSWORD: VERIFIER_PASSWORD },
  })
  redis = await startRedis(['--aclfile', rendered])
  broker = await makeApprovalBroker({
    config: {
      store: {
        kind: 'redis',
        redisUrl: `redis://writ-broker:${BROKER_PASSWORD}@127.0.0.1:${redis.port}`,
        keyPrefix: 'writ:',
        commandTimeoutMs: 1000,
      },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  // A request is accepted only when an enrolled key could approve it.
  await enrol(broker, broker.authenticator(), 'alice@example.com', 'release-managers')
}, 60_000)

afterAll(async () => {
  await broker?.close()
  await redis?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('approvals on the shipped Redis ACL (writ-broker)', () => {
  it('an identical approval request joins the pending one (coalescing) instead of failing', async () => {
    const manifest = deployManifest({ task: { id: 'REL-1', requested_by: 'carol@example.com' } })
    const first = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    expect(first.status).toBe(202)
    const firstId = ((await first.json()).auth_req_id as string).split('.')[0]
    // The same request again: it must join the first (same approval id), as SECURITY.md says.
    const second = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
    const body = await second.text()
    expect(second.status, body).toBe(202)
    expect((JSON.parse(body).auth_req_id as string).split('.')[0]).toBe(firstId)
  })

  it('locks, admin approval listing and revocation work as writ-broker', async () => {
    const lock = await broker.call('POST', '/admin/locks', {
      ...json({ client_id: 'agent-b', reason: 'review' }),
      bearer: ADMIN_TOKEN,
    })
    expect([200, 201], await lock.clone().text()).toContain(lock.status)
    const list = await broker.call('GET', '/admin/approvals', { bearer: ADMIN_TOKEN })
    expect(list.status, await list.clone().text()).toBe(200)
  })
})
