import { describe, expect, it } from 'vitest'
import { loadPolicy } from '../../src/policy/load-policy.js'
import { PolicyError } from '../../src/policy/types.js'
import { HASH } from '../policy/fixtures.js'

const policy = (delegateTo: string) => `
version: 1
clients:
  - id: planner
    auth: client_secret
    secret_hash: "${HASH}"
    rules: [docs-read]
${delegateTo}
  - id: worker
    auth: client_secret
    secret_hash: "${HASH}"
rules:
  - id: docs-read
    match: { type: repo, actions: [read], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
`

const problems = (text: string): string[] => {
  try {
    loadPolicy(text)
    return []
  } catch (err) {
    if (err instanceof PolicyError) return err.problems
    throw err
  }
}

describe('delegate_to in the policy', () => {
  it('names the clients a client may delegate to, and the depth (default 1)', () => {
    const loaded = loadPolicy(policy('    delegate_to: { clients: [worker] }'))
    expect(loaded.clients.get('planner')!.delegateTo).toEqual({ clients: ['worker'], maxDepth: 1 })
    expect(loaded.clients.get('worker')!.delegateTo).toBeUndefined()
    expect(loadPolicy(policy('    delegate_to: { clients: [worker], max_depth: 3 }')).clients.get('planner')!.delegateTo?.maxDepth).toBe(3)
  })

  it('refuses unknown clients, an empty list, a depth out of range and unknown members, naming each', () => {
    expect(problems(policy('    delegate_to: { clients: [wroker] }'))).toEqual([
      'clients[0].delegate_to.clients[0]: unknown client "wroker"',
    ])
    expect(problems(policy('    delegate_to: { clients: [] }')).join('\n')).toMatch(/clients\[0\]\.delegate_to\.clients/)
    expect(problems(policy('    delegate_to: { clients: [worker], max_depth: 0 }')).join('\n')).toMatch(/clients\[0\]\.delegate_to\.max_depth/)
    expect(problems(policy('    delegate_to: { clients: [worker], max_depth: 17 }')).join('\n')).toMatch(/clients\[0\]\.delegate_to\.max_depth/)
    expect(problems(policy('    delegate_to: { clients: [worker], depth: 2 }')).join('\n')).toMatch(/clients\[0\]\.delegate_to/)
  })
})
