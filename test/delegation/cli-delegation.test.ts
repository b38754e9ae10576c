import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { ACCESS_TOKEN, delegationPolicyText, details, secretOf, TOKEN_EXCHANGE } from './helpers.js'

let http: HttpBroker
let adminToken: string

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  http = await startHttpBroker({ admin: { tokenHash } }, { policyText: await delegationPolicyText() })
})
afterAll(() => http?.close())

const env = () => ({ WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken })
const basic = (client: string) => `Basic ${Buffer.from(`${client}:${secretOf(client)}`).toString('base64')}`

async function token(client: string, params: Record<string, string>): Promise<{ access_token: string; grant_id: string }> {
  const res = await fetch(`${http.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
    body: new URLSearchParams(params).toString(),
  })
  expect(res.status).toBe(200)
  return (await res.json()) as { access_token: string; grant_id: string }
}

const exchange = (client: string, subject: string) =>
  token(client, {
    grant_type: TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: ACCESS_TOKEN,
    authorization_details: JSON.stringify(details(['read'], 'docs/a.md')),
  })

describe('the CLI and a delegation chain', () => {
  it('writ grants show draws the tree and the chain; writ audit show tells it; writ revoke reports descendants', async () => {
    const root = await token('planner', {
      grant_type: 'client_credentials',
      task_id: 'DELEGATE-1',
      authorization_details: JSON.stringify(details(['read'], 'docs/**')),
    })
    const child = await exchange('worker', root.access_token)
    const grandchild = await exchange('sub', child.access_token)

    const tree = await runCli(['grants', 'show', root.grant_id], env())
    expect(tree.code, tree.stderr).toBe(0)
    expect(tree.stdout).toContain('delegated to\n')
    expect(tree.stdout).toMatch(new RegExp(`└─ ${child.grant_id} worker live, expires in`))
    expect(tree.stdout).toMatch(new RegExp(`   └─ ${grandchild.grant_id} sub live`))

    const middle = await runCli(['--json', 'grants', 'show', grandchild.grant_id], env())
    expect(JSON.parse(middle.stdout)).toMatchObject({
      state: 'live',
      grant: { delegation: { parent: child.grant_id, parent_client: 'worker', depth: 2, subject: 'planner', act: { sub: 'sub', act: { sub: 'worker' } } } },
      children: [],
    })

    const story = await runCli(['--json', 'audit', 'show', '--grant', child.grant_id], env())
    const issued = (JSON.parse(story.stdout) as Array<{ type: string; grant?: string }>)
      .filter((e) => e.type === 'grant.issued')
      .map((e) => e.grant)
    expect(issued).toEqual([root.grant_id, child.grant_id, grandchild.grant_id])

    const revoked = await runCli(['revoke', root.grant_id, '--reason', 'task over'], env())
    expect(revoked).toMatchObject({
      code: 0,
      stdout: 'revoked 3 grants\n  of which 2 were grants delegated from them (token exchange)\n',
    })
    for (const [client, id] of [['worker', child.grant_id], ['sub', grandchild.grant_id]] as const) {
      expect((await http.broker.store.grants.getGrant(client, id)).state).toBe('revoked')
    }
    // Five CLI processes, each starting node: slow on a shared machine.
  }, 90_000)
})
