import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { decodeJwt } from 'jose'
import { stringify as toYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/client-auth/index.js'
import type { ConfigInput } from '../../src/config.js'
import {
  A,
  AAGUID,
  ADMIN_TOKEN,
  approvalPolicyText,
  ceremonyOptions,
  deployManifest,
  ISSUER,
  makeApprovalBroker,
  PKI,
  poll,
  submit,
  WEBHOOK_SECRET,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import type { TestResponse } from '../helpers/broker.js'
import { freePort, startRedis, type PrivateRedis } from '../helpers/redis.js'

const root = resolve(import.meta.dirname, '../..')
let redis: PrivateRedis
let dir: string
let child: ChildProcess | undefined
let config: ConfigInput

beforeAll(async () => {
  redis = await startRedis()
  dir = mkdtempSync(join(tmpdir(), 'writ-crash-'))
  writeFileSync(join(dir, 'roots.pem'), PKI.root.pem)
  writeFileSync(join(dir, 'policy.yaml'), await approvalPolicyText())
  config = {
    store: { kind: 'redis', redisUrl: redis.url, keyPrefix: 'writ-crash:', commandTimeoutMs: 500 },
    keys: { source: 'store', kek: randomBytes(32).toString('base64') },
  }
})
afterAll(async () => {
  child?.kill('SIGKILL')
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Broker A: `src/main.ts` in its own process, configured like the in-process broker B. */
async function startBrokerProcess(): Promise<string> {
  const port = await freePort()
  const configFile = join(dir, 'config.yaml')
  writeFileSync(
    configFile,
    toYaml({
      issuer: ISSUER,
      devMode: true,
      host: '127.0.0.1',
      port,
      policyFile: join(dir, 'policy.yaml'),
      ...config,
      admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
      approvals: { attestation: { rootCertificateFiles: [join(dir, 'roots.pem')], allowedAaguids: [AAGUID] } },
      log: { level: 'error' },
    }),
  )
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, WRIT_CONFIG: configFile, WRIT_TEST_WEBHOOK_SECRET: WEBHOOK_SECRET },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false)
    if (ready) return url
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`broker process did not start:\n${err}`)
}

/** `fetch` against broker A with the auth helpers' conventions. */
function callA(url: string) {
  return (path: string, init: RequestInit & { basic?: [string, string]; bearer?: string } = {}) => {
    const { basic, bearer, ...rest } = init
    const headers = new Headers(rest.headers)
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
    if (basic) headers.set('authorization', `Basic ${Buffer.from(`${enc(basic[0])}:${enc(basic[1])}`).toString('base64')}`)
    if (bearer) headers.set('authorization', `Bearer ${bearer}`)
    return fetch(`${url}${path}`, { ...rest, method: rest.method ?? 'POST', headers }) as Promise<TestResponse>
  }
}

const jsonBody = (value: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) })

describe('a broker process killed (SIGKILL) with approvals pending', () => {
  it('leaves them to a new broker on the same Redis: it shows, approves, denies and redeems them', async () => {
    const call = callA(await startBrokerProcess())
    let second: ApprovalBroker | undefined
    try {
      second = await makeApprovalBroker({ config })
      const alice = second.authenticator()
      // On A: enrol alice's key, ask for two approvals, and take a challenge to approve the first.
      const invited = await call('/admin/approvers/invites', {
        ...jsonBody({ approver: 'alice@example.com', group: 'release-managers' }),
        bearer: ADMIN_TOKEN,
      })
      const invite = await invited.json()
      const path = new URL(invite.invite_url).pathname
      const creation = await (await call(`${path}/options`, jsonBody({}))).json()
      expect((await call(`${path}/verify`, jsonBody(alice.register(creation)))).status).toBe(200)
      const ask = async (id: string) => {
        const manifest = deployManifest({ task: { id, purpose: 'Deploy', requested_by: 'carol@example.com' } })
        const res = await call('/v1/tokens', { ...jsonBody(manifest), basic: A })
        expect(res.status).toBe(202)
        const body = await res.json()
        return { authReqId: body.auth_req_id as string, id: (body.auth_req_id as string).split('.')[0]! }
      }
      const toApprove = await ask('REL-42')
      const toDeny = await ask('REL-43')
      const optionsFromA = await (await call(`/approve/${toApprove.id}/options`, jsonBody({ action: 'approve' }))).json()

      child!.kill('SIGKILL')
      await once(child!, 'exit')

      // On B: the page, the challenge A handed out, the decision and the token.
      const page = await second.call('GET', `/approve/${toApprove.id}`)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('REL-42')
      expect((await (await poll(second, A, toApprove.authReqId)).json()).error).toBe('authorization_pending')
      const approved = await submit(second, toApprove.id, 'approve', alice.assert(optionsFromA))
      expect(approved.status).toBe(200)
      expect((await approved.json()).status).toBe('approved')
      second.clock.advance(10_000)
      const collected = await poll(second, A, toApprove.authReqId)
      expect(collected.status).toBe(200)
      const token = (await collected.json()).access_token
      const claims = decodeJwt(token) as { jti: string; approval?: { id: string; approvers: Array<{ sub: string }> } }
      expect(claims.approval?.id).toBe(toApprove.id)
      expect(claims.approval?.approvers.map((a) => a.sub)).toEqual(['alice@example.com'])
      expect((await second.store.grants.getGrant('agent-a', claims.jti)).state).toBe('live')

      const denied = await submit(second, toDeny.id, 'deny', alice.assert(await ceremonyOptions(second, toDeny.id, 'deny')))
      expect(denied.status).toBe(200)
      second.clock.advance(10_000)
      expect((await (await poll(second, A, toDeny.authReqId)).json()).error).toBe('access_denied')
    } finally {
      await second?.close()
    }
  })
})
