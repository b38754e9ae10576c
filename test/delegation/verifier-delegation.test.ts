import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { actorChain, delegationDepth, type Verifier, VerifierError } from '../../src/verifier/index.js'
import { checkActClaim, checkAncestorGrants } from '../../src/verifier/delegation.js'
import type { TestBroker } from '../helpers/broker.js'
import { brokerVerifier } from '../helpers/verifier.js'
import { APP, claimsOf, details, makeDelegationBroker, oauthClient } from './helpers.js'

let broker: TestBroker
let tokens: { root: string; child: string; grandchild: string }

beforeAll(async () => {
  broker = await makeDelegationBroker()
  const asked = { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }
  const root = (await oauthClient(broker, 'planner').issue(details(['read'], 'docs/**'))).access_token
  const child = (await oauthClient(broker, 'worker').exchange(root, asked)).access_token
  const grandchild = (await oauthClient(broker, 'sub').exchange(child, asked)).access_token
  tokens = { root, child, grandchild }
})
afterAll(async () => {
  await broker.close()
})

const verifierWith = (delegation?: { allow?: boolean; maxDepth?: number }): Verifier =>
  brokerVerifier(broker, { audience: APP, liveness: { mode: 'none' }, ...(delegation ? { delegation } : {}) })

async function outcome(verifier: Verifier, token: string): Promise<string> {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (err) {
    if (err instanceof VerifierError) return `${err.code}: ${err.message}`
    throw err
  }
}

describe('writ/verifier and delegated tokens', () => {
  it('exposes the chain: the actors, current first, and the depth', async () => {
    const verifier = verifierWith()
    const root = await verifier.verify(tokens.root)
    const grandchild = await verifier.verify(tokens.grandchild)
    expect(delegationDepth(root)).toBe(0)
    expect(actorChain(root)).toEqual([])
    expect(grandchild.sub).toBe('planner')
    expect(grandchild.client_id).toBe('sub')
    expect(actorChain(grandchild)).toEqual(['sub', 'worker'])
    expect(delegationDepth(grandchild)).toBe(2)
    expect(typeof grandchild.parent_grant).toBe('string')
  })

  it('a service can refuse delegated tokens altogether', async () => {
    const verifier = verifierWith({ allow: false })
    expect(await outcome(verifier, tokens.root)).toBe('ok')
    expect(await outcome(verifier, tokens.child)).toBe('invalid_token: this service does not accept delegated tokens (act)')
  })

  it('a service can cap the depth it accepts', async () => {
    const verifier = verifierWith({ maxDepth: 1 })
    expect(await outcome(verifier, tokens.root)).toBe('ok')
    expect(await outcome(verifier, tokens.child)).toBe('ok')
    expect(await outcome(verifier, tokens.grandchild)).toBe(
      'invalid_token: the token was delegated 2 times; this service accepts at most 1',
    )
  })

  it('refuses bad delegation options', () => {
    expect(() => verifierWith({ maxDepth: -1 })).toThrow(/delegation.maxDepth/)
  })

  it('refuses a malformed act claim', () => {
    for (const bad of [null, 'worker', [], { sub: '' }, { sub: 'a', extra: 1 }, { sub: 'a', act: { act: { sub: 'b' } } }]) {
      expect(() => checkActClaim(bad)).toThrow(VerifierError)
    }
    let deep: Record<string, unknown> = { sub: 'x' }
    for (let i = 0; i < 40; i++) deep = { sub: `a${i}`, act: deep }
    expect(() => checkActClaim(deep)).toThrow(/too deep/)
    expect(() => checkActClaim({ sub: 'a', act: { sub: 'b' } })).not.toThrow()
  })

  it('carries the whole chain above a token, root first, the parent last', () => {
    const [root, child, grandchild] = [tokens.root, tokens.child, tokens.grandchild].map(claimsOf)
    expect(root!.ancestor_grants).toBeUndefined()
    expect(child!.ancestor_grants).toEqual([{ client_id: 'planner', grant_id: root!.jti }])
    expect(grandchild!.ancestor_grants).toEqual([
      { client_id: 'planner', grant_id: root!.jti },
      { client_id: 'worker', grant_id: child!.jti },
    ])
    expect(grandchild!.parent_grant).toBe(child!.jti)
  })

  it('refuses a malformed ancestor_grants claim, or one that does not end with the parent', () => {
    const link = { client_id: 'planner', grant_id: 'g1' }
    for (const bad of [null, [], 'g1', [link, 'g2'], [{ client_id: 'planner' }], [{ ...link, extra: 1 }], [{ ...link, grant_id: '' }]]) {
      expect(() => checkAncestorGrants(bad, 'g1')).toThrow(VerifierError)
    }
    expect(() => checkAncestorGrants([link], 'g2')).toThrow(/ending with its parent_grant/)
    expect(() => checkAncestorGrants([link], undefined)).toThrow(VerifierError)
    expect(() => checkAncestorGrants(Array.from({ length: 40 }, () => link), 'g1')).toThrow(VerifierError)
    expect(() => checkAncestorGrants([{ client_id: 'root', grant_id: 'g0' }, link], 'g1')).not.toThrow()
    expect(() => checkAncestorGrants(undefined, 'g1')).not.toThrow()
  })
})
