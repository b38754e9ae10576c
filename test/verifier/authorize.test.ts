import { describe, expect, it } from 'vitest'
import { type AccessTokenClaims, authorize, VerifierError } from '../../src/verifier/index.js'

const APP = 'https://git.example.com/acme/app'

const claims = (details: unknown[]): AccessTokenClaims =>
  ({
    iss: 'https://writ.test',
    sub: 'agent-a',
    aud: APP,
    exp: 2e9,
    iat: 1e9,
    jti: 'g1',
    client_id: 'agent-a',
    authorization_details: details,
  }) as AccessTokenClaims

const docs = claims([
  { type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/**' },
  { type: 'repo', actions: ['write'], locations: [APP], identifier: 'docs/*.md' },
  { type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/*'] },
])

function denied(fn: () => unknown): VerifierError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(VerifierError)
    expect((err as VerifierError).code).toBe('insufficient_scope')
    expect((err as VerifierError).status).toBe(403)
    return err as VerifierError
  }
  throw new Error('authorized')
}

describe('authorize: does a grant cover this action on this resource?', () => {
  it('returns the covering grant', () => {
    const grant = authorize(docs, { type: 'repo', action: 'read', resource: { location: APP, identifier: 'docs/a/b.md' } })
    expect(grant.identifier).toBe('docs/**')
  })

  it('matches identifiers as globs: * within a segment, ** across', () => {
    expect(authorize(docs, { type: 'repo', action: 'write', resource: { location: APP, identifier: 'docs/guide.md' } }).actions).toEqual(['write'])
    denied(() => authorize(docs, { type: 'repo', action: 'write', resource: { location: APP, identifier: 'docs/a/guide.md' } }))
    denied(() => authorize(docs, { type: 'repo', action: 'read', resource: { location: APP, identifier: 'src/index.ts' } }))
  })

  it('refuses another action, another type, another location', () => {
    denied(() => authorize(docs, { type: 'repo', action: 'delete', resource: { location: APP, identifier: 'docs/a.md' } }))
    denied(() => authorize(docs, { type: 'wiki', action: 'read', resource: { location: APP, identifier: 'docs/a.md' } }))
    const err = denied(() =>
      authorize(docs, { type: 'repo', action: 'read', resource: { location: 'https://git.example.com/acme/other', identifier: 'docs/a.md' } }),
    )
    expect(err.message).toBe('the token does not allow repo read on https://git.example.com/acme/other docs/a.md')
  })

  it('matches location globs, and a grant without identifier covers every resource there', () => {
    expect(authorize(docs, { type: 'deploy', action: 'create', resource: { location: 'https://deploy.example.com/acme/app', identifier: 'v1.2' } }).type).toBe('deploy')
    denied(() => authorize(docs, { type: 'deploy', action: 'create', resource: { location: 'https://deploy.example.com/other/app' } }))
  })

  it('never lets a grant limited to some identifiers cover the whole location', () => {
    denied(() => authorize(docs, { type: 'repo', action: 'read', resource: { location: APP } }))
    denied(() => authorize(docs, { type: 'repo', action: 'read' }))
  })

  it('refuses a location-bound request when the grant names no location', () => {
    const anywhere = claims([{ type: 'repo', actions: ['read'] }])
    expect(authorize(anywhere, { type: 'repo', action: 'read' }).type).toBe('repo')
    denied(() => authorize(anywhere, { type: 'repo', action: 'read', resource: { location: APP } }))
  })

  it('refuses dot segments, so docs/../src cannot pass as docs/**', () => {
    for (const identifier of ['docs/../src/secret.ts', 'docs/./a.md', '../docs/a.md']) {
      const err = denied(() => authorize(docs, { type: 'repo', action: 'read', resource: { location: APP, identifier } }))
      expect(err.message).toMatch(/\.\. segments/)
    }
  })

  it('treats * in the resource identifier as a literal character', () => {
    const narrow = claims([{ type: 'repo', actions: ['read'], identifier: 'docs/a.md' }])
    denied(() => authorize(narrow, { type: 'repo', action: 'read', resource: { identifier: 'docs/*' } }))
  })

  it('refuses a token without authorization_details, or with malformed ones', () => {
    denied(() => authorize(claims([]), { type: 'repo', action: 'read' }))
    const { authorization_details: _d, ...bare } = docs
    denied(() => authorize(bare as AccessTokenClaims, { type: 'repo', action: 'read' }))
    denied(() => authorize(claims([null, 'repo', { type: 'repo', actions: 'read' }]), { type: 'repo', action: 'read' }))
  })

  it('checks a request without a location at this service, never anywhere', () => {
    const WIKI = 'https://git.example.com/acme/wiki'
    const both = { ...claims([
      { type: 'repo', actions: ['write'], locations: [APP], identifier: 'docs/**' },
      { type: 'repo', actions: ['read'], locations: [WIKI] },
      { type: 'repo', actions: ['delete'] },
    ]), aud: [APP, WIKI] }
    // The verifier for WIKI: the grant for APP does not cover a write here.
    const err = denied(() => authorize(both, { type: 'repo', action: 'write', resource: { identifier: 'docs/a.md' } }, { audience: WIKI }))
    expect(err.message).toBe(`the token does not allow repo write on ${WIKI} docs/a.md`)
    expect(authorize(both, { type: 'repo', action: 'write', resource: { identifier: 'docs/a.md' } }, { audience: APP }).locations).toEqual([APP])
    expect(authorize(both, { type: 'repo', action: 'read' }, { audience: [WIKI, 'https://other.example'] }).locations).toEqual([WIKI])
    // A grant without locations in a token for two services covers neither.
    denied(() => authorize(both, { type: 'repo', action: 'delete' }, { audience: WIKI }))
    // Without an audience, a token naming two places gives no "here": the request must name one.
    expect(denied(() => authorize(both, { type: 'repo', action: 'read' })).message).toMatch(/give resource\.location/)
    // A verifier serving both audiences cannot tell which is meant either.
    denied(() => authorize(both, { type: 'repo', action: 'read' }, { audience: [APP, WIKI] }))
    expect(authorize(both, { type: 'repo', action: 'read', resource: { location: WIKI } }, { audience: [APP, WIKI] }).locations).toEqual([WIKI])
  })
})
