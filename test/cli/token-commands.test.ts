import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { revoke } from '../../src/client/index.js'
import { SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

let http: HttpBroker
let adminToken: string
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-token-'))
const manifestText =
  'task: { id: CLI-9, purpose: docs }\nttl: 5m\ngrants:\n  - { type: repo, actions: [read], locations: [https://git.example.com/acme/app], identifier: "docs/**" }\n'
const manifest = join(dir, 'manifest.yaml')

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  http = await startHttpBroker({ admin: { tokenHash } })
  writeFileSync(manifest, manifestText)
})
afterAll(async () => {
  await http?.close()
  rmSync(dir, { recursive: true, force: true })
})

const agent = (client = 'agent-b') => ({ WRIT_URL: http.url, WRIT_CLIENT_ID: client, WRIT_CLIENT_SECRET: SECRETS[client as 'agent-b'] })
const admin = () => ({ WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken })

async function newToken(): Promise<string> {
  const { code, stdout } = await runCli(['token', 'request', manifest], agent())
  expect(code).toBe(0)
  return stdout.trim()
}

describe('writ --version', () => {
  it('prints the package version and exits 0', async () => {
    const { code, stdout } = await runCli(['--version'])
    expect(code).toBe(0)
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })
})

describe('writ token request -', () => {
  it('reads the manifest from stdin', async () => {
    const { code, stdout } = await runCli(['--json', 'token', 'request', '-'], agent(), manifestText)
    expect(code).toBe(0)
    const body = JSON.parse(stdout)
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'repo:read', expires_in: 300 })
    expect(Object.keys(body).sort()).toEqual(['access_token', 'authorization_details', 'expires_in', 'grant_id', 'scope', 'token_type'])
  })
})

describe('writ policy explain -', () => {
  it('reads the manifest from stdin', async () => {
    const { code, stdout } = await runCli(['policy', 'explain', '-', '--client', 'demo-agent'], {}, manifestText)
    expect(code).toBe(0)
    expect(stdout).toContain('docs')
  })
})

describe('writ token revoke', () => {
  it('ends the agent\'s own token (RFC 7009): the grant is revoked, introspection says inactive', async () => {
    const token = await newToken()
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti
    const { code, stdout } = await runCli(['--json', 'token', 'revoke', '-'], agent(), `${token}\n`)
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ revoked: true, grant_id: jti, client_id: 'agent-b' })
    expect(await http.broker.store.grants.getGrant('agent-b', jti)).toMatchObject({ state: 'revoked' })
  })

  it('leaves another client\'s token alone', async () => {
    const token = await newToken()
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti
    expect((await runCli(['token', 'revoke', token], agent('agent-a'))).code).toBe(0)
    expect(await http.broker.store.grants.getGrant('agent-b', jti)).toMatchObject({ state: 'live' })
  })

  it('exits 1 on credentials the broker refuses, and 2 on something that is not a token', async () => {
    const token = await newToken()
    const wrong = await runCli(['token', 'revoke', token], { ...agent(), WRIT_CLIENT_SECRET: 'wrong' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('refused the client credentials of agent-b')
    const junk = await runCli(['token', 'revoke', 'not-a-token'], agent())
    expect(junk.code).toBe(2)
    expect(junk.stderr).toContain('token: expected a JWT access token')
  })

  it('revoke() in writ/client does the same for an embedded agent runtime', async () => {
    const token = await newToken()
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti
    await revoke({ broker: http.url, credentials: { clientId: 'agent-b', clientSecret: SECRETS['agent-b'] }, token })
    expect(await http.broker.store.grants.getGrant('agent-b', jti)).toMatchObject({ state: 'revoked' })
    await expect(
      revoke({ broker: http.url, credentials: { clientId: 'agent-b', clientSecret: 'wrong' }, token }),
    ).rejects.toMatchObject({ code: 'invalid_client', status: 401 })
  })
})

describe('writ token inspect', () => {
  it('shows header, claims, a valid signature and the live grant; then its tombstone once revoked', async () => {
    const token = await newToken()
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti
    const live = await runCli(['--json', 'token', 'inspect', '-'], admin(), token)
    expect(live.code).toBe(0)
    const view = JSON.parse(live.stdout)
    expect(view.header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' })
    expect(view.claims).toMatchObject({ jti, client_id: 'agent-b', scope: 'repo:read' })
    expect(view.signature).toEqual({ valid: true })
    expect(view.grant.state).toBe('live')
    expect((await runCli(['revoke', jti, '--reason', 'inspected'], admin())).code).toBe(0)
    const text = await runCli(['token', 'inspect', token], admin())
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/grant {5}\S+: revoked \(inspected by admin\)/)
    expect(text.stdout).toContain('signature valid')
  }, 60_000)

  it('says when the signature does not verify (a token edited after signing)', async () => {
    const token = await newToken()
    const [h, p, s] = token.split('.')
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'repo:write' })).toString('base64url')}.${s}`
    const { code, stdout } = await runCli(['--json', 'token', 'inspect', forged], admin())
    expect(code).toBe(0)
    expect(JSON.parse(stdout).signature).toMatchObject({ valid: false })
  })
})

describe('writ revoke UNKNOWN_ID', () => {
  it('exits 1 saying it was not found', async () => {
    const { code, stderr } = await runCli(['revoke', 'no-such-grant', '--reason', 'typo'], admin())
    expect(code).toBe(1)
    expect(stderr).toContain('grant no-such-grant: not found among live grants')
  })
})
