import { verify } from '@node-rs/argon2'
import { describe, expect, it } from 'vitest'
import { SAMPLE_POLICY_PATH } from '../../src/config.js'
import { decide } from '../../src/policy/decide.js'
import { loadPolicyFile } from '../../src/policy/load-policy.js'
import { expandScopes } from '../../src/policy/expand-scopes.js'

describe('examples/policy.yaml', () => {
  const policy = loadPolicyFile(SAMPLE_POLICY_PATH)
  const limits = { maxTtlSeconds: 3600, defaultTtlSeconds: 900 }
  const docs = { type: 'repo', locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }

  it('loads as the embedded default policy', () => {
    expect(policy.clients.get('demo-agent')?.auth).toBe('client_secret')
    expect(policy.approverGroups.has('release-managers')).toBe(true)
  })

  it('holds an argon2id hash of the public demo secret', async () => {
    const hash = policy.clients.get('demo-agent')?.secretHash
    expect(hash).toMatch(/^\$argon2id\$/)
    expect(await verify(hash!, 'demo-secret')).toBe(true)
    expect(await verify(hash!, 'demo-secret ')).toBe(false)
  })

  it('lets demo-agent read and write docs/** of acme/app without approval', () => {
    const decision = decide(
      policy,
      'demo-agent',
      { task: { id: 'T' }, grants: [{ ...docs, actions: ['read'] }, { ...docs, actions: ['read', 'write'] }] },
      limits,
    )
    expect(decision.approval).toBeNull()
    expect(decision.ttlSeconds).toBe(900)
  })

  it('needs approval for a production deploy', () => {
    const decision = decide(
      policy,
      'demo-agent',
      { task: { id: 'T' }, grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }] },
      limits,
    )
    expect(decision.approval?.requirements[0]).toMatchObject({ from: 'release-managers', requireDpop: true })
  })

  it('denies anything else, such as source code', () => {
    expect(() =>
      decide(policy, 'demo-agent', { task: { id: 'T' }, grants: [{ ...docs, actions: ['read'], identifier: 'src/**' }] }, limits),
    ).toThrow(/not allowed for client demo-agent/)
  })
})

describe('examples/policy.yaml: the MCP server', () => {
  const policy = loadPolicyFile(SAMPLE_POLICY_PATH)
  const limits = { maxTtlSeconds: 3600, defaultTtlSeconds: 900 }
  const MCP = 'https://mcp.example.com/mcp'
  const tool = (identifier: string) => ({ type: 'mcp', actions: ['tools/call'], locations: [MCP], identifier })
  const decideTool = (identifier: string) =>
    decide(policy, 'demo-agent', { task: { id: 'T' }, grants: [tool(identifier)] }, limits)

  it('lets read tools through without approval, and holds deploy tools for a release manager', () => {
    expect(decideTool('get_issue').approval).toBeNull()
    expect(decideTool('deploy_prod').approval?.requirements).toEqual([
      expect.objectContaining({ ruleId: 'mcp-deploy', approvers: 1, from: 'release-managers' }),
    ])
  })

  it('allows no wildcard over every tool, so deploy tools cannot ride on the free rule', () => {
    expect(() => decideTool('*')).toThrow(/not allowed/)
  })

  it('expands its scopes to those grants for the resource asked for', () => {
    const { grants } = expandScopes(policy, { scope: 'mcp:read mcp:deploy', resources: [MCP] })
    expect(grants).toEqual([tool('get_*'), tool('deploy_*')])
    const decision = decide(policy, 'demo-agent', { task: { id: 'T' }, grants, resources: [MCP] }, limits)
    expect(decision.grants.map((g) => g.ruleId)).toEqual(['mcp-read', 'mcp-deploy'])
  })
})
