import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis.js'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')
let child: ChildProcess | undefined

afterAll(() => {
  child?.kill('SIGTERM')
})

/** Starts the broker exactly as `npm start` does (from source, to skip the build), on embedded defaults. */
async function startBroker(port: number): Promise<string> {
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const deadline = Date.now() + 15_000
  while (!out.includes('writ grants ls')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`broker did not start:\n${out}\n${err}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return out
}

describe('the README start command', () => {
  it('boots on embedded defaults and the printed curl command returns a token', async () => {
    const port = await freePort()
    const banner = await startBroker(port)
    expect(banner).toContain(`http://127.0.0.1:${port}`)
    expect(banner).toContain('store memory')

    // Run the first curl command from the banner, verbatim, through a shell.
    const lines = banner.split('\n')
    const start = lines.findIndex((l) => l.trim().startsWith('curl'))
    const command = [lines[start], lines[start + 1]].map((l) => l!.trim().replace(/\\$/, '')).join(' ')
    const { stdout } = await run('sh', ['-c', command], { cwd: root })
    const body = JSON.parse(stdout)
    expect(body.token_type).toBe('Bearer')
    expect(body.access_token.split('.')).toHaveLength(3)
    expect(body.scope).toBe('repo:read repo:write')

    // The README's scope + resource command, verbatim but for the port.
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8').split('\n')
    const at = readme.findIndex((l) => l.includes('scope=mcp:read'))
    const scoped = [readme[at - 1], readme[at]]
      .map((l) => l!.trim().replace(/\\$/, '').replace('localhost:8080', `localhost:${port}`))
      .join(' ')
    const mcp = JSON.parse((await run('sh', ['-c', scoped], { cwd: root })).stdout)
    expect(mcp).toMatchObject({ token_type: 'Bearer', scope: 'mcp:read' })
    expect(JSON.parse(Buffer.from(mcp.access_token.split('.')[1], 'base64url').toString())).toMatchObject({
      aud: 'https://mcp.example.com/mcp',
      authorization_details: [{ type: 'mcp', actions: ['tools/call'], identifier: 'get_*', locations: ['https://mcp.example.com/mcp'] }],
    })

    // The README loop with the CLI: the banner's admin token lists the grant, revokes it, and the
    // token is rejected from then on.
    const token = /WRIT_ADMIN_TOKEN=(\S+)/.exec(banner)![1]!
    const env = { WRIT_URL: `http://127.0.0.1:${port}`, WRIT_ADMIN_TOKEN: token }
    const listed = await runCli(['grants', 'ls'], env)
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(body.grant_id)
    expect((await runCli(['revoke', body.grant_id, '--reason', 'done'], env)).code).toBe(0)
    const { stdout: introspection } = await run(
      'curl',
      ['-s', '-u', 'demo-agent:demo-secret', `http://127.0.0.1:${port}/oauth/introspect`, '-d', `token=${body.access_token}`],
      { cwd: root },
    )
    expect(JSON.parse(introspection)).toEqual({ active: false })
  }, 60_000)
})
