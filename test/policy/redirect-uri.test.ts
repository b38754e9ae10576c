import { describe, expect, it } from 'vitest'
import { loadPolicy, PolicyError } from '../../src/policy/index.js'
import { matchRedirectUri, redirectUriProblem } from '../../src/policy/redirect-uri.js'

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$Oxayyd5izrNNJCb6Y3Rq3w$yJQfl+cUlpYTRSfXZbXBsSD0YRcnsFOrKaUYQvZyI7w'

function problems(clients: string): string[] {
  try {
    loadPolicy(`version: 1\nclients:\n${clients}`)
    return []
  } catch (err) {
    if (err instanceof PolicyError) return err.problems
    throw err
  }
}

describe('redirect URIs a public client may register', () => {
  it.each([
    'https://app.example.com/oauth/cb',
    'http://127.0.0.1/callback',
    'http://127.0.0.1:8765/callback',
    'http://[::1]/callback',
    'com.example.app:/oauth2redirect',
  ])('accepts %s', (uri) => {
    expect(redirectUriProblem(uri)).toBeUndefined()
  })

  it.each([
    ['http://app.example.com/cb', 'loopback'],
    ['http://localhost:8765/cb', 'loopback'],
    ['https://app.example.com/cb#frag', 'fragment'],
    ['https://user:pw@app.example.com/cb', 'user information'],
    ['javascript:alert(1)', 'private-use scheme'],
    ['data:text/html,x', 'private-use scheme'],
    ['file:///tmp/x', 'private-use scheme'],
    ['/relative/cb', 'absolute URI'],
  ])('refuses %s (%s)', (uri, says) => {
    expect(redirectUriProblem(uri)).toContain(says)
  })
})

describe('matching a presented redirect URI', () => {
  const registered = ['https://app.example.com/cb', 'http://127.0.0.1/callback']
  it('is string equality, no normalization and no prefix', () => {
    expect(matchRedirectUri(registered, 'https://app.example.com/cb')).toBe(true)
    for (const near of ['https://app.example.com/cb/', 'https://APP.example.com/cb', 'https://app.example.com:443/cb', 'https://app.example.com/cb?x=1', 'https://app.example.com/c%62']) {
      expect(matchRedirectUri(registered, near), near).toBe(false)
    }
  })
  it('lets a loopback URI take any port, and nothing else vary (RFC 8252 §7.3)', () => {
    expect(matchRedirectUri(registered, 'http://127.0.0.1:51734/callback')).toBe(true)
    expect(matchRedirectUri(registered, 'http://127.0.0.1:51734/callback2')).toBe(false)
    expect(matchRedirectUri(registered, 'http://[::1]:51734/callback')).toBe(false)
    expect(matchRedirectUri(registered, 'http://localhost:51734/callback')).toBe(false)
    expect(matchRedirectUri(registered, 'https://127.0.0.1:51734/callback')).toBe(false)
  })
})

describe('public clients in the policy', () => {
  it('loads auth: none with its redirect URIs', () => {
    const policy = loadPolicy('version: 1\nclients:\n  - { id: app, auth: none, redirect_uris: ["http://127.0.0.1/cb"] }\n')
    expect(policy.clients.get('app')).toMatchObject({ auth: 'none', redirectUris: ['http://127.0.0.1/cb'] })
  })
  it('names every problem: no redirect URIs, credentials on a public client, redirect URIs on a confidential one, a bad URI', () => {
    expect(problems('  - { id: app, auth: none }\n')).toEqual(['clients[0].redirect_uris: required when auth is none (a public client)'])
    expect(problems(`  - { id: app, auth: none, redirect_uris: ["https://a.example/cb"], secret_hash: "${HASH}" }\n`)).toEqual([
      'clients[0].secret_hash: not allowed when auth is none',
    ])
    expect(problems(`  - { id: agent, auth: client_secret, secret_hash: "${HASH}", redirect_uris: ["https://a.example/cb"] }\n`)).toEqual([
      'clients[0].redirect_uris: allowed only when auth is none (a public client)',
    ])
    expect(problems('  - { id: app, auth: none, redirect_uris: ["http://a.example/cb"] }\n')).toEqual([
      expect.stringMatching(/^clients\[0\]\.redirect_uris\[0\]: http is allowed only on the loopback/),
    ])
  })
})
