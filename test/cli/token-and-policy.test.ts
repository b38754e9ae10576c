import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verify } from '@node-rs/argon2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

let http: HttpBroker
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-'))
const manifest = join(dir, 'manifest.yaml')
const outside = join(dir, 'outside.yaml')

beforeAll(async () => {
  http = await startHttpBroker()
  writeFileSync(
    manifest,
    'task: { id: CLI-1, purpose: docs }\nttl: 5m\ngrants:\n  - { type: repo, actions: [read], locations: [https://git.example.com/acme/app], identifier: "docs/**" }\n',
  )
  writeFileSync(
    outside,
    'task: { id: CLI-2 }\ngrants:\n  - { type: repo, actions: [write], locations: [https://git.example.com/acme/app], identifier: "src/**" }\n',
  )
})
afterAll(() => http?.close())

const env = () => ({ WRIT_URL: http.url, WRIT_CLIENT_ID: 'agent-b', WRIT_CLIENT_SECRET: SECRETS['agent-b'] })

describe('writ token request', () => {
  it('prints the bare token when piped, and the grant is live', async () => {
    const { code, stdout } = await runCli(['token', 'request', manifest], env())
    expect(code).toBe(0)
    const token = stdout.trim()
    expect(token.split('.')).toHaveLength(3)
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
    expect(await http.broker.store.grants.getGrant('agent-b', claims.jti)).toMatchObject({ state: 'live' })
  })

  it('prints everything with --json', async () => {
    const { code, stdout } = await runCli(['--json', 'token', 'request', manifest], env())
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({ token_type: 'Bearer', scope: 'repo:read', expires_in: 300 })
  })

  it('reads the client secret from stdin with --stdin', async () => {
    const { WRIT_CLIENT_SECRET: secret, ...rest } = env()
    const { code } = await runCli(['--stdin', 'token', 'request', manifest], rest, `${secret}\n`)
    expect(code).toBe(0)
  })

  it('exits 3 when policy denies, naming the grant', async () => {
    const { code, stderr } = await runCli(['token', 'request', outside], env())
    expect(code).toBe(3)
    expect(stderr).toMatch(/^writ: denied: grants\[0\]/)
  })

  it('exits 1 with one clear line on a wrong secret', async () => {
    const { code, stderr } = await runCli(['token', 'request', manifest], { ...env(), WRIT_CLIENT_SECRET: 'wrong' })
    expect(code).toBe(1)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toContain('refused the client credentials of agent-b')
  })

  it('exits 2 on a bad broker URL, a missing secret, or a malformed manifest', async () => {
    expect((await runCli(['token', 'request', manifest], { ...env(), WRIT_URL: 'not a url' })).code).toBe(2)
    const { WRIT_CLIENT_SECRET: _s, ...noSecret } = env()
    const missing = await runCli(['token', 'request', manifest], noSecret)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('WRIT_CLIENT_SECRET')
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'task: [unclosed\n')
    expect((await runCli(['token', 'request', bad], env())).code).toBe(2)
  })

  it('exits 1 when the broker cannot be reached', async () => {
    const { code, stderr } = await runCli(['token', 'request', manifest], { ...env(), WRIT_URL: 'http://127.0.0.1:1' })
    expect(code).toBe(1)
    expect(stderr).toContain('cannot reach the broker')
  })
})

describe('writ policy and clients', () => {
  it('checks a valid policy and lists every problem of a broken one', async () => {
    expect((await runCli(['policy', 'check', 'examples/policy.yaml'])).code).toBe(0)
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'version: 1\nclients:\n  - { id: a, auth: client_secret, rules: [nope] }\nrules: []\n')
    const { code, stderr } = await runCli(['policy', 'check', broken])
    expect(code).toBe(1)
    expect(stderr).toContain('secret_hash')
    expect(stderr).toContain('nope')
  })

  it('explains a manifest per grant, exiting 3 when denied', async () => {
    const ok = await runCli(['policy', 'explain', 'examples/manifest.yaml', '--client', 'demo-agent'])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('rule docs')
    const denied = await runCli(['--json', 'policy', 'explain', outside, '--client', 'demo-agent'])
    expect(denied.code).toBe(3)
    const explained = JSON.parse(denied.stdout)
    expect(explained.allowed).toBe(false)
    // The API's snake_case, as every --json output.
    expect(explained).toMatchObject({ client_id: 'demo-agent', client_known: true, max_ttl_seconds: null, require_dpop: false })
  })

  it('prints a new client secret once with an argon2id hash that verifies it', async () => {
    const { code, stdout } = await runCli(['--json', 'clients', 'add', 'docs-agent'])
    expect(code).toBe(0)
    const { client_secret, secret_hash } = JSON.parse(stdout)
    expect(secret_hash).toMatch(/^\$argon2id\$/)
    expect(await verify(secret_hash, client_secret)).toBe(true)
    expect((await runCli(['clients', 'add', 'bad id!'])).code).toBe(2)
  })

  it('exits 2 on an unknown command, with help', async () => {
    const { code, stderr } = await runCli(['nope'])
    expect(code).toBe(2)
    expect(stderr).toContain('unknown command')
  })

  it('exits 2 on usage errors of nested commands too, and takes an id after -- as an id', async () => {
    const missing = await runCli(['grants', 'show'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("missing required argument 'id'")
    expect((await runCli(['approvers', 'disable', '-Qw3', '--reason', 'x'])).stderr).toContain("unknown option '-Qw3'")
    const dashed = await runCli(['approvers', 'disable', '--reason', 'x', '--', '-Qw3'])
    // Parsed as an id: it gets as far as needing a broker URL.
    expect(dashed.stderr).toContain('no broker URL')
  })
})
