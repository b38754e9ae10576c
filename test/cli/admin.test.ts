import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { docsManifest, SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { freePort } from '../helpers/redis.js'

let http: HttpBroker
let adminToken: string

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  http = await startHttpBroker({ admin: { tokenHash } })
})
afterAll(() => http?.close())

const env = () => ({ WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken })

async function issue(taskId: string, client: 'agent-a' | 'agent-b' = 'agent-b'): Promise<string> {
  const res = await fetch(`${http.url}/v1/tokens`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${client}:${encodeURIComponent(SECRETS[client]).replace(/%20/g, '+')}`).toString('base64')}`,
    },
    body: JSON.stringify(docsManifest({ task: { id: taskId }, grants: docsManifest().grants.slice(0, 1) })),
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { grant_id: string }).grant_id
}

describe('writ grants, revoke and keys against a running broker', () => {
  it('lists live grants as a table and as JSON, filtered by task', async () => {
    const id = await issue('LIST-1')
    const table = await runCli(['grants', 'ls', '--task', 'LIST-1', '--client', 'agent-b'], env())
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^ID\s+CLIENT\s+TASK\s+GRANTS\s+APPROVED BY\s+EXPIRES IN/)
    expect(table.stdout).toContain(id)
    const json = await runCli(['--json', 'grants', 'ls', '--task', 'LIST-1'], env())
    expect(JSON.parse(json.stdout).map((g: { id: string }) => g.id)).toEqual([id])
  })

  it('shows one grant in full, and its tombstone after revoke ID', async () => {
    const id = await issue('SHOW-1')
    const shown = await runCli(['--json', 'grants', 'show', id], env())
    expect(shown.code, shown.stderr).toBe(0)
    expect(JSON.parse(shown.stdout)).toMatchObject({ state: 'live', grant: { id, client_id: 'agent-b' } })
    const human = await runCli(['grants', 'show', id], env())
    expect(human.stdout).toMatch(/^grant\s+\S+ live, expires in/)
    expect(human.stdout).toContain('task     SHOW-1')
    const revoked = await runCli(['revoke', id, '--reason', 'test over'], env())
    expect(revoked).toMatchObject({ code: 0, stdout: 'revoked 1 grant\n' })
    const tomb = await runCli(['--json', 'grants', 'show', id], env())
    expect(tomb.stdout).toContain('test over')
    expect((await http.broker.store.grants.getGrant('agent-b', id)).state).toBe('revoked')
  })

  it('revokes a whole task only with --yes when not on a TTY, and prints the count', async () => {
    await issue('BULK-1')
    await issue('BULK-1')
    const refused = await runCli(['revoke', '--task', 'BULK-1'], env())
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('--yes')
    const done = await runCli(['--json', 'revoke', '--task', 'BULK-1', '--yes'], env())
    expect(done.code).toBe(0)
    expect(JSON.parse(done.stdout)).toEqual({ revoked: 2, descendants_revoked: 0, approvals_revoked: 0 })
  })

  it('refuses two targets at once', async () => {
    const { code, stderr } = await runCli(['revoke', 'x', '--task', 'T'], env())
    expect(code).toBe(2)
    expect(stderr).toContain('exactly one target')
  })

  it('lists keys and rotates them; the JWKS follows', async () => {
    const before = JSON.parse((await runCli(['--json', 'keys', 'ls'], env())).stdout) as Array<{ slot: string; kid: string }>
    expect(before.map((k) => k.slot).sort()).toEqual(['current', 'next'])
    const next = before.find((k) => k.slot === 'next')!.kid
    const rotated = await runCli(['keys', 'rotate'], env())
    expect(rotated).toMatchObject({ code: 0, stdout: `rotated: now signing with ${next}\n` })
    const jwks = (await (await fetch(`${http.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
    expect(jwks.keys.map((k) => k.kid)).toContain(next)
    expect(jwks.keys).toHaveLength(3)
  })

  it('exits 1 naming the fix on a wrong admin token, and on an unknown grant', async () => {
    const wrong = await runCli(['grants', 'ls'], { ...env(), WRIT_ADMIN_TOKEN: 'nope' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('WRIT_ADMIN_TOKEN')
    const unknown = await runCli(['grants', 'show', 'no-such-grant'], env())
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^writ: .*no-such-grant|not found/i)
  })

  it('exits 2 without a broker URL and 1 when the broker is down', async () => {
    expect((await runCli(['grants', 'ls'], { WRIT_ADMIN_TOKEN: adminToken })).code).toBe(2)
    const down = await runCli(['grants', 'ls'], { WRIT_URL: 'http://127.0.0.1:1', WRIT_ADMIN_TOKEN: adminToken })
    expect(down.code).toBe(1)
    expect(down.stderr).toContain('cannot reach the broker')
  })
})

describe('writ against a busy broker (503)', () => {
  /**
   * A front for the running broker that answers the first `busy` requests 503, as a broker busy
   * checking admin tokens does, then passes requests on. `statuses` lists what each request got.
   */
  async function busyFront(busy: number, retryAfter: string | undefined) {
    const statuses: number[] = []
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        if (statuses.length < busy) {
          statuses.push(503)
          res.writeHead(503, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) })
          res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'too many admin authentication attempts in progress; retry shortly' }))
          return
        }
        const headers: Record<string, string> = {}
        for (const name of ['authorization', 'content-type', 'accept']) {
          const value = req.headers[name]
          if (typeof value === 'string') headers[name] = value
        }
        fetch(`${http.url}${req.url}`, { method: req.method, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) })
          .then(async (upstream) => {
            statuses.push(upstream.status)
            res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
            res.end(Buffer.from(await upstream.arrayBuffer()))
          })
          .catch(() => res.destroy())
      })
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    return {
      url: `http://127.0.0.1:${port}`,
      statuses,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  }

  it('retries a 503 with a doubling backoff, and the command succeeds', async () => {
    const id = await issue('BUSY-1')
    const front = await busyFront(2, undefined)
    try {
      const res = await runCli(['--json', 'grants', 'ls', '--task', 'BUSY-1'], { ...env(), WRIT_URL: front.url })
      expect(res.code, res.stderr).toBe(0)
      expect(JSON.parse(res.stdout).map((g: { id: string }) => g.id)).toEqual([id])
      expect(front.statuses).toEqual([503, 503, 200])
      expect(res.stderr).toContain('the broker is busy (503); retrying in 0.5 s')
      expect(res.stderr).toContain('retrying in 1.0 s')
    } finally {
      await front.close()
    }
  })

  it('waits the Retry-After the broker names, and gives up after three retries with its reason', async () => {
    const front = await busyFront(Number.MAX_SAFE_INTEGER, '0')
    try {
      const res = await runCli(['grants', 'ls'], { ...env(), WRIT_URL: front.url })
      expect(res.code).toBe(1)
      expect(front.statuses).toEqual([503, 503, 503, 503])
      expect(res.stderr.match(/retrying in 0\.0 s/g)).toHaveLength(3)
      expect(res.stderr).toContain('too many admin authentication attempts in progress')
    } finally {
      await front.close()
    }
  })

  it('never repeats a rotation answered 503 (the store may have taken it), but repeats a revocation', async () => {
    const rotateFront = await busyFront(1, '0')
    try {
      const rotate = await runCli(['keys', 'rotate'], { ...env(), WRIT_URL: rotateFront.url })
      expect(rotate.code).toBe(1)
      expect(rotateFront.statuses).toEqual([503])
      expect(rotate.stderr).not.toContain('retrying')
    } finally {
      await rotateFront.close()
    }
    const revokeFront = await busyFront(1, '0')
    try {
      const revoke = await runCli(['revoke', '--task', 'BUSY-NONE', '--reason', 'busy test', '--yes'], {
        ...env(),
        WRIT_URL: revokeFront.url,
      })
      expect(revoke.code, revoke.stderr).toBe(0)
      expect(revokeFront.statuses).toEqual([503, 200])
    } finally {
      await revokeFront.close()
    }
  })
})
