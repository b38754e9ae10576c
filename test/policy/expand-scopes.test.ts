import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { expandScopes, loadPolicy, PolicyError } from '../../src/policy/index.js'

const POLICY = `
version: 1
scopes:
  - name: mcp:github:read
    grants:
      - { type: mcp, actions: [tools/call], identifier: "get_*" }
      - { type: mcp, actions: [prompts/get], identifier: "summarize" }
  - name: docs:read
    grants:
      - { type: repo, actions: [read], locations: ["https://git.example.com/acme/app"], identifier: "docs/**" }
`
const policy = loadPolicy(POLICY)
const MCP = 'https://mcp.example.com/mcp'

const codeOf = (fn: () => unknown): [string, string] => {
  try {
    fn()
  } catch (err) {
    if (err instanceof WritError) return [err.code, err.message]
    throw err
  }
  throw new Error('expected a WritError')
}

describe('expandScopes', () => {
  it('copies each template, giving location-less ones the request’s resources', () => {
    const out = expandScopes(policy, { scope: 'mcp:github:read docs:read', resources: [MCP] })
    expect(out.scopes).toEqual(['mcp:github:read', 'docs:read'])
    expect(out.grants).toEqual([
      { type: 'mcp', actions: ['tools/call'], identifier: 'get_*', locations: [MCP] },
      { type: 'mcp', actions: ['prompts/get'], identifier: 'summarize', locations: [MCP] },
      { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
    ])
    // The policy's templates are never changed by an expansion.
    expect(policy.scopes.get('mcp:github:read')!.grants[0]).not.toHaveProperty('locations')
  })

  it('refuses unknown, malformed and empty scopes with invalid_scope, and a missing resource with invalid_target', () => {
    expect(codeOf(() => expandScopes(policy, { scope: 'docs:write' }))).toEqual(['invalid_scope', 'scope: unknown scope "docs:write"'])
    expect(codeOf(() => expandScopes(policy, { scope: 'a"b' }))[0]).toBe('invalid_scope')
    expect(codeOf(() => expandScopes(policy, { scope: '  ' }))[0]).toBe('invalid_scope')
    expect(codeOf(() => expandScopes(policy, { scope: 'mcp:github:read' }))[0]).toBe('invalid_target')
  })
})

describe('the policy’s scopes section', () => {
  const problems = (text: string): string[] => {
    try {
      loadPolicy(text)
    } catch (err) {
      if (err instanceof PolicyError) return err.problems
      throw err
    }
    return []
  }

  it('refuses duplicate names, bad names and malformed mcp templates, naming each', () => {
    const found = problems(`
version: 1
scopes:
  - { name: a, grants: [{ type: repo, actions: [read] }] }
  - { name: a, grants: [{ type: repo, actions: [read] }] }
  - { name: "has space", grants: [{ type: repo, actions: [read] }] }
  - { name: m, grants: [{ type: mcp, actions: [tools/delete], identifier: x }, { type: mcp, actions: [tools/call] }] }
`)
    expect(found).toEqual(
      expect.arrayContaining([
        'scopes[1].name: duplicate scope "a" (also scopes[0])',
        expect.stringMatching(/^scopes\[2\]\.name: expected a scope token/),
        expect.stringMatching(/^scopes\[3\]\.grants\[0\]\.actions\[0\]: unknown MCP action "tools\/delete"/),
        expect.stringMatching(/^scopes\[3\]\.grants\[1\]\.identifier: required for mcp grants/),
      ]),
    )
  })
})

describe('mcp rules', () => {
  it('refuses an mcp rule whose actions are not MCP methods', () => {
    let problems: string[] = []
    try {
      loadPolicy(`
version: 1
rules:
  - { id: r, match: { type: mcp, actions: [tools/call, tools/list], locations: ["https://mcp.example.com/mcp"] }, max_ttl: 5m, approval: none }
`)
    } catch (err) {
      if (err instanceof PolicyError) problems = err.problems
    }
    expect(problems).toEqual([
      'rules[0].match.actions[1]: unknown MCP action "tools/list"; expected one of tools/call, resources/read, prompts/get',
    ])
  })
})
