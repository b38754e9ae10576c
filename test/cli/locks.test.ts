import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { docsManifest, SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

let http: HttpBroker
let adminToken: string

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  http = await startHttpBroker({ admin: { tokenHash } })
})
afterAll(() => http?.close())
// A test that fails part-way leaves no lock behind for the next one.
afterEach(async () => {
  for (const l of await http.broker.store.locks.listLocks()) await http.broker.store.locks.removeLock(l.id)
})

const env = () => ({ WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken })
const basic = (client: 'agent-a' | 'agent-b') =>
  `Basic ${Buffer.from(`${client}:${encodeURIComponent(SECRETS[client]).replace(/%20/g, '+')}`).toString('base64')}`
const readOnly = (taskId: string) => docsManifest({ task: { id: taskId }, grants: docsManifest().grants.slice(0, 1) })

/** POST /v1/tokens as `client` for `taskId`: the status and the JSON body. */
async function ask(client: 'agent-a' | 'agent-b', taskId: string) {
  const res = await fetch(`${http.url}/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(client) },
    body: JSON.stringify(readOnly(taskId)),
  })
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

/** POST /oauth/token (client_credentials) as `client`. */
async function clientCredentials(client: 'agent-a' | 'agent-b', taskId: string) {
  const res = await fetch(`${http.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: taskId,
      authorization_details: JSON.stringify(readOnly(taskId).grants),
    }).toString(),
  })
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

/** The audit events of these types, newest last (through the CLI, as an operator reads them). */
async function auditEvents(...types: string[]): Promise<Array<Record<string, unknown>>> {
  const tail = await runCli(['--json', 'audit', 'tail', '--limit', '200'], env())
  expect(tail.code, tail.stderr).toBe(0)
  return tail.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((e) => types.includes(String(e.type)))
}

describe('writ lock, writ lock ls and writ unlock against a running broker on Redis', () => {
  it('refuses the client a new token after revoke --client while it is locked, and again after unlock', async () => {
    const first = await ask('agent-b', 'LOCK-1')
    expect(first.status).toBe(200)
    // What a revocation alone leaves open: the same client gets a new token at once.
    const revoked = await runCli(['revoke', '--client', 'agent-b', '--yes', '--reason', 'leaked secret'], env())
    expect(revoked.code, revoked.stderr).toBe(0)
    const reissued = await ask('agent-b', 'LOCK-1')
    expect(reissued.status).toBe(200)

    const locked = await runCli(['lock', '--client', 'agent-b', '--reason', 'leaked secret, rotating'], env())
    expect(locked.code, locked.stderr).toBe(0)
    const lockId = /lock (\S+)\n/.exec(locked.stdout)?.[1]
    expect(lockId).toBeDefined()
    expect(locked.stdout).toBe(`locked client agent-b until unlocked: lock ${lockId}\nrevoked 1 live grant\n`)
    // The token issued after the revocation is revoked by the lock.
    expect((await http.broker.store.grants.getGrant('agent-b', reissued.body.grant_id!)).state).toBe('revoked')

    // Neither token endpoint issues to the locked client; the answer names the lock and why.
    for (const attempt of [await ask('agent-b', 'LOCK-1'), await clientCredentials('agent-b', 'LOCK-1')]) {
      expect(attempt.status).toBe(403)
      expect(attempt.body).toEqual({
        error: 'access_denied',
        error_description: `refused: client agent-b is locked (lock ${lockId}: leaked secret, rotating)`,
      })
    }
    expect(await http.broker.store.grants.countLiveGrants('agent-b')).toBe(0)
    // Other clients are not affected.
    expect((await ask('agent-a', 'LOCK-1')).status).toBe(200)

    const listed = await runCli(['lock', 'ls'], env())
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/^ID\s+TARGET\s+UNTIL\s+SINCE\s+REASON/)
    expect(listed.stdout).toContain(`${lockId}  client agent-b  unlocked`)
    const asJson = JSON.parse((await runCli(['--json', 'lock', 'ls'], env())).stdout) as Array<Record<string, unknown>>
    expect(asJson).toContainEqual(
      expect.objectContaining({ id: lockId, client_id: 'agent-b', reason: 'leaked secret, rotating', by: 'admin' }),
    )

    const unlocked = await runCli(['unlock', lockId!], env())
    expect(unlocked).toMatchObject({ code: 0, stdout: `unlocked client agent-b (lock ${lockId})\n` })
    expect((await ask('agent-b', 'LOCK-1')).status).toBe(200)
    const again = await runCli(['unlock', lockId!], env())
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(`no active lock with id "${lockId}"`)

    const events = await auditEvents('lock.created', 'lock.removed', 'token.denied')
    expect(events.filter((e) => e.lock === lockId)).toEqual([
      expect.objectContaining({ type: 'lock.created', actor: 'admin', target_kind: 'client', target: 'agent-b', revoked: 1 }),
      expect.objectContaining({ type: 'lock.removed', actor: 'admin', target_kind: 'client', target: 'agent-b' }),
    ])
    const denied = events.filter((e) => e.type === 'token.denied' && String(e.message).includes(lockId!))
    expect(denied).toHaveLength(2)
    expect(denied[0]).toMatchObject({ client: 'agent-b', reason: 'access_denied' })
    const readable = await runCli(['audit', 'tail', '--limit', '200'], env())
    expect(readable.stdout).toContain(
      `client agent-b locked by admin (lock ${lockId}): leaked secret, rotating; 1 live grant(s) revoked`,
    )
    expect(readable.stdout).toContain(`client agent-b unlocked by admin (lock ${lockId}: leaked secret, rotating)`)
  }, 120_000)

  it('ends a lock with --ttl by itself', async () => {
    // Long enough to outlast a slow CLI start on a busy machine, short enough to wait out.
    const locked = await runCli(['--json', 'lock', '--task', 'TTL-1', '--ttl', '8s', '--reason', 'brief freeze'], env())
    expect(locked.code, locked.stderr).toBe(0)
    const { lock } = JSON.parse(locked.stdout) as { lock: { id: string; expires_at: number } }
    const refused = await ask('agent-a', 'TTL-1')
    expect(refused.status).toBe(403)
    expect(refused.body.error_description).toContain(`task TTL-1 is locked until ${new Date(lock.expires_at * 1000).toISOString()}`)
    await new Promise((resolve) => setTimeout(resolve, lock.expires_at * 1000 - Date.now() + 50))
    expect((await ask('agent-a', 'TTL-1')).status).toBe(200)
    const listed = JSON.parse((await runCli(['--json', 'lock', 'ls'], env())).stdout) as Array<{ id: string }>
    expect(listed.map((l) => l.id)).not.toContain(lock.id)
  }, 60_000)

  it('keeps the live grants with --no-revoke, and still refuses new ones', async () => {
    const live = await ask('agent-b', 'KEEP-1')
    expect(live.status).toBe(200)
    const locked = await runCli(['--json', 'lock', '--client', 'agent-b', '--no-revoke', '--reason', 'looking'], env())
    expect(locked.code, locked.stderr).toBe(0)
    const { lock, revoked } = JSON.parse(locked.stdout) as { lock: { id: string }; revoked?: number }
    expect(revoked).toBeUndefined()
    expect((await http.broker.store.grants.getGrant('agent-b', live.body.grant_id!)).state).toBe('live')
    expect((await ask('agent-b', 'KEEP-1')).status).toBe(403)
    expect((await runCli(['unlock', lock.id], env())).code).toBe(0)
  }, 60_000)

  it('refuses a lock without a reason, with two targets or a bad --ttl, before calling the broker', async () => {
    const noReason = await runCli(['lock', '--client', 'agent-b'], env())
    expect(noReason).toMatchObject({ code: 2, stderr: expect.stringContaining('--reason is required') })
    const two = await runCli(['lock', '--client', 'agent-b', '--task', 'T', '--reason', 'x'], env())
    expect(two).toMatchObject({ code: 2, stderr: expect.stringContaining('exactly one target') })
    const ttl = await runCli(['lock', '--task', 'T', '--ttl', 'soon', '--reason', 'x'], env())
    expect(ttl).toMatchObject({ code: 2, stderr: expect.stringContaining('--ttl: expected a duration') })
    expect(JSON.parse((await runCli(['--json', 'lock', 'ls'], env())).stdout)).toEqual([])
  }, 60_000)
})
