import { verify } from '@node-rs/argon2'
import { describe, expect, it } from 'vitest'
import { SAMPLE_POLICY_PATH } from '../../src/config.js'
import { decide } from '../../src/policy/decide.js'
import { loadPolicyFile } from '../../src/policy/load-policy.js'

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
