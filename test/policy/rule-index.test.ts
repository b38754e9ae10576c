import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AuthorizationDetail } from '../../src/manifest/types.js'
import { matchRule } from '../../src/policy/match-rule.js'
import { clientRuleIndex } from '../../src/policy/rule-index.js'
import type { Policy, PolicyClient, PolicyRule } from '../../src/policy/types.js'
import { HASH } from './fixtures.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 300)

// Small alphabets so that generated rules and grants overlap often: shared prefixes, wildcards at
// every position, patterns on both sides.
const segment = fc.constantFrom('a', 'b', 'ab', '*', '**', 'a*', '*b', 'docs')
const path = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => s.join('/'))
const location = fc
  .tuple(fc.constantFrom('https://h', 'https://h2', 'https://*', 'h', ''), path)
  .map(([host, p]) => (p === '' ? host : `${host}/${p}`))
const actions = fc.subarray(['read', 'write', 'admin'], { minLength: 1 })
const type = fc.constantFrom('repo', 'db', 'mcp')

const ruleMatch = fc.record(
  {
    type,
    actions,
    locations: fc.array(location, { minLength: 1, maxLength: 3 }),
    identifier: path,
  },
  { requiredKeys: ['type', 'actions'] },
)

const grant: fc.Arbitrary<AuthorizationDetail> = fc.record(
  {
    type,
    actions: fc.subarray(['read', 'write', 'admin', 'other']),
    locations: fc.array(location, { minLength: 0, maxLength: 3 }),
    identifier: path,
  },
  { requiredKeys: ['type'] },
) as fc.Arbitrary<AuthorizationDetail>

function policyOf(matches: PolicyRule['match'][], usable: boolean[]): Policy {
  const rules = matches.map(
    (match, index): PolicyRule => ({ id: `r${index}`, index, match, maxTtlSeconds: 60, approval: null }),
  )
  const client: PolicyClient = {
    id: 'c',
    auth: 'client_secret',
    secretHash: HASH,
    rules: rules.filter((_, i) => usable[i % usable.length]).map((r) => r.id),
    maxLiveGrants: 10,
    maxPendingApprovals: 10,
    introspect: 'own',
  }
  return {
    version: 1,
    clients: new Map([[client.id, client]]),
    approverGroups: new Map(),
    scopes: new Map(),
    rules,
    ruleById: new Map(rules.map((r) => [r.id, r])),
  }
}

/** The reference: every rule the client may use, tried in file order. */
function linearFirstMatch(policy: Policy, clientId: string, g: AuthorizationDetail) {
  const allowed = new Set(policy.clients.get(clientId)?.rules ?? [])
  return policy.rules.find((rule) => allowed.has(rule.id) && matchRule(rule, g).matched)
}

describe('the rule index', () => {
  it('decides exactly as the linear scan in file order, on random policies and grants', () => {
    fc.assert(
      fc.property(
        fc.array(ruleMatch, { minLength: 0, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
        fc.array(grant, { minLength: 1, maxLength: 8 }),
        (matches, usable, grants) => {
          const policy = policyOf(matches, usable)
          const index = clientRuleIndex(policy, 'c')
          for (const g of grants) {
            expect(index.firstMatch(g)?.id).toBe(linearFirstMatch(policy, 'c', g)?.id)
          }
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('finds a rule that appears after thousands of others without matching them', () => {
    const matches: PolicyRule['match'][] = []
    for (let i = 0; i < 10_000; i++) {
      matches.push({ type: 'repo', actions: ['read'], locations: [`https://git.example.com/org/repo-${i}`] })
    }
    const policy = policyOf(matches, [true])
    const index = clientRuleIndex(policy, 'c')
    const g = { type: 'repo', actions: ['read'], locations: ['https://git.example.com/org/repo-9999'] }
    expect(index.firstMatch(g)?.id).toBe('r9999')
    expect(index.firstMatch({ ...g, locations: ['https://git.example.com/org/repo-99999'] })).toBeUndefined()
  })

  it('matches nothing for a client the policy does not know', () => {
    const policy = policyOf([{ type: 'repo', actions: ['read'] }], [true])
    expect(clientRuleIndex(policy, 'nobody').firstMatch({ type: 'repo', actions: ['read'] })).toBeUndefined()
  })
})
