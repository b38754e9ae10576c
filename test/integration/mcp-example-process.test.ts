import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../helpers/eventually.js'
import { type HttpBroker, startHttpBroker } from '../helpers/http-broker.js'
import { freePort } from '../helpers/redis.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const ROOT = resolve(import.meta.dirname, '../..')
const POLICY = readFileSync(resolve(ROOT, 'examples/mcp-server/policy.yaml'), 'utf8')

let broker: HttpBroker
let server: ChildProcess
let output = ''
let port: number

/**
 * The walk-through of docs/verifier.md ("Protecting an MCP server"): the broker on
 * examples/mcp-server/policy.yaml, examples/mcp-server/server.ts run as it says (tsx), then the
 * requests its curl commands make.
 */
beforeAll(async () => {
  // The policy names the documented port 8082; the test's server listens on a free port instead.
  port = await freePort()
  broker = await startHttpBroker({}, { policyText: POLICY.replaceAll('127.0.0.1:8082', `127.0.0.1:${port}`) })
  server = spawn(process.execPath, ['--import', 'tsx', 'examples/mcp-server/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, WRIT_ISSUER: broker.url, REDIS_URL, WRIT_KEY_PREFIX: broker.prefix, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  server.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  server.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  await eventually(`the example MCP server is up and subscribed\n${output}`, async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.json() as Promise<{ subscribed?: boolean }>, () => ({}))
    return (health as { subscribed?: boolean }).subscribed === true
  }, { boundMs: 30_000 })
}, 45_000)

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = once(server, 'exit')
    server.kill('SIGTERM')
    await exited
  }
  await broker?.close()
})

describe('examples/mcp-server/server.ts as docs/verifier.md runs it', () => {
  it('serves its metadata, a granted tool call, and refuses an ungranted one with the scope hint', async () => {
    const mcp = `http://127.0.0.1:${port}/mcp`
    const metadata = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`)
    expect(await metadata.json()).toMatchObject({ resource: mcp, authorization_servers: [broker.url] })

    const issued = await fetch(`${broker.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('mcp-agent:demo-secret').toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        task_id: 'MCP-1',
        authorization_details: JSON.stringify([
          { type: 'mcp', actions: ['tools/call'], locations: [mcp], identifier: 'search_docs' },
        ]),
      }).toString(),
    })
    expect(issued.status).toBe(200)
    const token = ((await issued.json()) as { access_token: string }).access_token
    const callTool = (name: string, args: Record<string, unknown>) =>
      fetch(mcp, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
      })
    const ok = await callTool('search_docs', { query: 'build' })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ result: { content: [{ type: 'text', text: 'docs/README.md' }] } })
    const refused = await callTool('create_issue', { title: 'x' })
    expect(refused.status).toBe(403)
    // The line docs/verifier.md shows.
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp", ` +
        `error="insufficient_scope", error_description="the token does not allow tools/call create_issue on ${mcp}", ` +
        'scope="mcp:issues"',
    )
    const bare = await fetch(mcp, { method: 'POST', body: '{}' })
    expect(bare.status).toBe(401)
    expect(bare.headers.get('www-authenticate')).toContain(
      `resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`,
    )
  })
})
