import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { serve, type ServerType } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { AAGUID, ADMIN_TOKEN, approvalPolicyText, ISSUER, ORIGIN, PKI, SECRETS } from '../approvals/helpers.js'
import { CLI, ROOT, runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis.js'

// A broker on real time and real Redis, reached over HTTP by the built CLI; the approver taps a
// software security key whose attestation chains to the test PKI.
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-approval-'))
const manifest = join(dir, 'deploy.yaml')
let broker: Broker
let server: ServerType
let url: string
const prefix = `writ-cli-approval-${randomBytes(4).toString('hex')}:`
const alice = new SoftAuthenticator({ aaguid: AAGUID, origin: ORIGIN, attestation: { fmt: 'packed', leaf: PKI.leaf, chain: [PKI.intermediate] } })
let aliceKey: string

const call = (path: string, init: RequestInit = {}) => broker.app.request(`${ISSUER}${path}`, init)
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

beforeAll(async () => {
  const rootFile = join(dir, 'roots.pem')
  writeFileSync(rootFile, PKI.root.pem)
  writeFileSync(
    manifest,
    'task: { id: REL-42, purpose: Deploy release 4.2, requested_by: carol@example.com }\nttl: 5m\ngrants:\n  - { type: deploy, actions: [create], locations: [https://deploy.example.com/acme/app] }\n',
  )
  const config = parseConfig({
    issuer: ISSUER,
    devMode: true,
    store: { kind: 'redis', redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: prefix },
    keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
    approvals: {
      timeoutSeconds: 6,
      pollIntervalSeconds: 1,
      attestation: { rootCertificateFiles: [rootFile], allowedAaguids: [AAGUID] },
    },
  })
  broker = await createBroker(config, {
    logger: silentLogger,
    policyText: (await approvalPolicyText()),
    env: { WRIT_TEST_WEBHOOK_SECRET: 'whsec' },
    fetch: async () => new Response(null, { status: 204 }),
  })
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))

  // alice enrols through the CLI's invite and the enrolment ceremony.
  const invite = await runCli(['--json', 'approvers', 'invite', 'alice@example.com', '--group', 'release-managers'], {
    WRIT_URL: url,
    WRIT_ADMIN_TOKEN: ADMIN_TOKEN,
  })
  expect(invite.code).toBe(0)
  const path = new URL(JSON.parse(invite.stdout).invite_url).pathname
  const options = await (await post(`${path}/options`, {})).json()
  const enrolled = await post(`${path}/verify`, alice.register(options as never))
  expect(enrolled.status).toBe(200)
  aliceKey = ((await enrolled.json()) as { credential_id: string }).credential_id
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await broker?.close()
  rmSync(dir, { recursive: true, force: true })
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

/** Starts `writ token request --wait` and resolves with the approval id once it is printed. */
function startWaiting(): { approvalId: Promise<string>; done: Promise<{ code: number; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, 'token', 'request', manifest, '--client', 'agent-b', '--wait'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', WRIT_URL: url, WRIT_CLIENT_SECRET: SECRETS['agent-b'] },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let found: (id: string) => void
  const approvalId = new Promise<string>((r) => (found = r))
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
    const m = /\/approve\/([A-Za-z0-9_-]+)/.exec(stderr)
    if (m) found(m[1]!)
  })
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((r) =>
    child.on('close', (code) => r({ code: code ?? -1, stdout, stderr })),
  )
  return { approvalId, done }
}

async function decide(id: string, action: 'approve' | 'deny') {
  const options = await (await post(`/approve/${id}/options`, { action })).json()
  const res = await post(`/approve/${id}/${action === 'approve' ? 'verify' : 'deny'}`, alice.assert(options as never))
  expect(res.status).toBe(200)
}

describe('writ token request --wait through a real approval', () => {
  it('lists the pending request, then exits 0 with a token whose approval names the key', async () => {
    const { approvalId, done } = startWaiting()
    const id = await approvalId
    const listed = await runCli(['--json', 'approvals', 'ls'], { WRIT_URL: url, WRIT_ADMIN_TOKEN: ADMIN_TOKEN })
    expect(JSON.parse(listed.stdout).map((a: { id: string }) => a.id)).toContain(id)
    await decide(id, 'approve')
    const { code, stdout, stderr } = await done
    expect(stderr).toContain('approval needed')
    expect(code).toBe(0)
    const claims = JSON.parse(Buffer.from(stdout.trim().split('.')[1]!, 'base64url').toString())
    expect(claims.approval.id).toBe(id)
    expect(claims.approval.approvers[0]).toMatchObject({ sub: 'alice@example.com', aaguid: AAGUID })
  })

  it('exits 3 when the approver denies', async () => {
    const { approvalId, done } = startWaiting()
    await decide(await approvalId, 'deny')
    const { code, stderr } = await done
    expect(code).toBe(3)
    expect(stderr).toMatch(/^writ: denied/m)
  })

  it('exits 4 when nobody approves in time', async () => {
    const { approvalId, done } = startWaiting()
    await approvalId
    const { code, stderr } = await done
    expect(code).toBe(4)
    expect(stderr).toMatch(/^writ: expired/m)
  }, 20_000)

  it('exits 1 without --wait, naming the approval URL', async () => {
    const res = await runCli(['token', 'request', manifest, '--client', 'agent-b'], {
      WRIT_URL: url,
      WRIT_CLIENT_SECRET: SECRETS['agent-b'],
    })
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/needs human approval at https:\/\/writ\.test\/approve\//)
  })
})

describe('writ revoke reaches approval requests', () => {
  it('--client ends an approved request the agent has not collected: its poll is access_denied, never a token', async () => {
    const basic = `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`
    const asked = await post(
      '/v1/tokens',
      { task: { id: 'REL-60', requested_by: 'carol@example.com' }, grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }] },
      { authorization: basic },
    )
    expect(asked.status).toBe(202)
    const { auth_req_id: authReqId } = (await asked.json()) as { auth_req_id: string }
    await decide(authReqId.split('.')[0]!, 'approve')
    const env = { WRIT_URL: url, WRIT_ADMIN_TOKEN: ADMIN_TOKEN }
    const revoked = await runCli(['revoke', '--client', 'agent-b', '--yes', '--reason', 'compromised'], env)
    expect(revoked.code).toBe(0)
    expect(revoked.stdout).toMatch(/ended \d+ approval requests? not yet collected/)
    const polled = await call('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId }).toString(),
    })
    expect(polled.status).toBe(400)
    expect(await polled.json()).toMatchObject({ error: 'access_denied' })
  })
})

describe('writ approvers', () => {
  it('lists keys, and disabling a key stops it approving', async () => {
    const env = { WRIT_URL: url, WRIT_ADMIN_TOKEN: ADMIN_TOKEN }
    const ls = await runCli(['approvers', 'ls'], env)
    expect(ls.stdout).toContain('alice@example.com')
    expect(ls.stdout).toContain('active')
    // The id goes after `--`: a base64url credential id starts with '-' one time in 64.
    const disabled = await runCli(['approvers', 'disable', '--revoke', '--reason', 'lost', '--', aliceKey], env)
    expect(disabled.code).toBe(0)
    expect(disabled.stdout).toContain('disabled key')
    expect(disabled.stdout).toMatch(/revoked \d+ grant/)
    const basic = `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`
    const asked = await post(
      '/v1/tokens',
      { task: { id: 'REL-43', requested_by: 'carol@example.com' }, grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }] },
      { authorization: basic },
    )
    // With alice's only key disabled, nobody holds a usable key: the request is refused at once.
    expect(asked.status).toBe(403)
    const refusal = (await asked.json()) as { error: string; error_description: string }
    expect(refusal.error).toBe('access_denied')
    expect(refusal.error_description).toMatch(/nobody can approve this request: rule deploy-prod needs 1 approver\(s\) from group release-managers, and 0 of its members hold/)
    const unknown = await runCli(['approvers', 'disable', 'no-such-key', '--reason', 'x'], env)
    expect(unknown.code).toBe(1)
  })
})
