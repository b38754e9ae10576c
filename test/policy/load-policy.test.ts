import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadPolicy, loadPolicyFile } from '../../src/policy/load-policy.js'
import { PolicyError } from '../../src/policy/types.js'

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$Oxayyd5izrNNJCb6Y3Rq3w$yJQfl+cUlpYTRSfXZbXBsSD0YRcnsFOrKaUYQvZyI7w'

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const EC_PUBLIC = { ...ecKey.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }
const EC_PRIVATE = { ...ecKey.privateKey.export({ format: 'jwk' }), kid: 'k2' }
const ED_PUBLIC = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'ed' }
const RSA_SHORT = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'rsa' }

const VALID = `
version: 1
clients:
  - id: demo-agent
    auth: client_secret
    secret_hash: "${HASH}"
    rules: [docs-read, prod-deploy]
    max_live_grants: 7
  - id: jwt-agent
    auth: private_key_jwt
    jwks: { keys: [${JSON.stringify(EC_PUBLIC)}, ${JSON.stringify(ED_PUBLIC)}] }
    rules: [docs-read]
    introspect: any
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com]
    webhook: { url: https://hooks.example.com/writ, secret_env: WRIT_WEBHOOK_SECRET }
rules:
  - id: docs-read
    description: Read project docs
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: prod-deploy
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 2, from: release-managers, require_dpop: true, forbid_self_approval: true }
`

function problems(text: string): string[] {
  try {
    loadPolicy(text)
  } catch (err) {
    if (err instanceof PolicyError) return err.problems
    throw err
  }
  throw new Error('expected a PolicyError')
}

describe('loadPolicy', () => {
  it('loads a valid policy into camelCase records with lookups by id', () => {
    const policy = loadPolicy(VALID, { source: 'policy.yaml' })
    expect(policy.version).toBe(1)
    expect(policy.source).toBe('policy.yaml')
    expect(policy.clients.get('demo-agent')).toEqual({
      id: 'demo-agent',
      auth: 'client_secret',
      secretHash: HASH,
      rules: ['docs-read', 'prod-deploy'],
      maxLiveGrants: 7,
      maxPendingApprovals: 20,
      introspect: 'own',
    })
    const jwt = policy.clients.get('jwt-agent')
    expect(jwt?.auth).toBe('private_key_jwt')
    expect(jwt?.jwks?.keys.map((k) => k.kid)).toEqual(['k1', 'ed'])
    expect(jwt?.jwks?.keys[0]).toEqual(EC_PUBLIC)
    expect(jwt?.maxLiveGrants).toBe(100)
    expect(jwt?.introspect).toBe('any')
    expect(policy.approverGroups.get('release-managers')).toEqual({
      id: 'release-managers',
      members: ['alice@example.com', 'bob@example.com'],
      webhooks: [{ format: 'signed', url: 'https://hooks.example.com/writ', secretEnv: 'WRIT_WEBHOOK_SECRET' }],
    })
    expect(policy.rules.map((r) => r.id)).toEqual(['docs-read', 'prod-deploy'])
    expect(policy.ruleById.get('docs-read')).toEqual({
      id: 'docs-read',
      index: 0,
      description: 'Read project docs',
      match: { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/*'], identifier: 'docs/**' },
      maxTtlSeconds: 900,
      approval: null,
    })
    expect(policy.ruleById.get('prod-deploy')?.approval).toEqual({
      approvers: 2,
      from: 'release-managers',
      requireDpop: true,
      forbidSelfApproval: true,
    })
  })

  it('defaults require_dpop to false and forbid_self_approval to true', () => {
    const text = VALID.replace('require_dpop: true, forbid_self_approval: true', '')
    const approval = loadPolicy(text).ruleById.get('prod-deploy')?.approval
    expect(approval).toEqual({ approvers: 2, from: 'release-managers', requireDpop: false, forbidSelfApproval: true })
  })

  it('accepts an empty policy (which allows nothing)', () => {
    const policy = loadPolicy('version: 1\n')
    expect(policy.clients.size).toBe(0)
    expect(policy.rules).toEqual([])
  })

  it('reports every problem of a policy at once, each naming its path', () => {
    const text = `
version: 1
clients:
  - id: a
    auth: client_secret
    secret_hash: "$2b$10$abcdefghijklmnopqrstuv"
    rules: [docs, x, docs]
  - id: a
    auth: private_key_jwt
    secret_hash: "${HASH}"
  - id: c
    auth: client_secret
    jwks: { keys: [${JSON.stringify(EC_PUBLIC)}] }
  - id: d
    auth: password
    rules: docs
approver_groups:
  - id: ops
    members: [alice, alice]
  - id: ops
    members: []
rules:
  - id: docs
    match: { type: repo, actions: [read] }
    max_ttl: forever
    approval: none
  - id: deploy
    match: { type: deploy, actions: [create], colour: red }
    max_ttl: 10m
    approval: { approvers: 2, from: ops }
  - id: deploy2
    match: { type: deploy, actions: [create] }
    approval: { approvers: 0, from: release }
    aproval: none
  - id: docs
    match: { type: repo, actions: [] }
    max_ttl: 48h
    approval: maybe
`
    expect(problems(text).sort()).toEqual(
      [
        'approver_groups[0].members[0]: group "ops" member "alice" must be an address (like carol@example.com), because rule "deploy" forbids self-approval (it compares approvers with task.requested_by)',
        'approver_groups[0].members[1]: duplicate member "alice" (also members[0])',
        'approver_groups[0].members[1]: group "ops" member "alice" must be an address (like carol@example.com), because rule "deploy" forbids self-approval (it compares approvers with task.requested_by)',
        'approver_groups[1].id: duplicate approver group id "ops" (also approver_groups[0])',
        'approver_groups[1].members: expected at least one member',
        'clients[0].rules[1]: unknown rule "x"',
        'clients[0].rules[2]: rule "docs" listed twice',
        'clients[0].secret_hash: expected an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)',
        'clients[1].id: duplicate client id "a" (also clients[0])',
        'clients[1].jwks: required when auth is private_key_jwt',
        'clients[1].secret_hash: not allowed when auth is private_key_jwt',
        'clients[2].jwks: not allowed when auth is client_secret',
        'clients[2].secret_hash: required when auth is client_secret',
        'clients[3].auth: expected client_secret, private_key_jwt or none',
        'clients[3].rules: expected a list of ids',
        'rules[0].max_ttl: expected a duration like 90s, 15m or 1h',
        'rules[1].approval.approvers: needs 2 approvers but group "ops" has 1 member',
        'rules[1].match: unknown field "colour"',
        'rules[2]: unknown field "aproval"',
        'rules[2].approval.approvers: must be at least 1',
        'rules[2].approval.from: unknown approver group "release"',
        'rules[2].max_ttl: required: a duration like 90s, 15m or 1h',
        'rules[3].actions: expected at least one action',
        'rules[3].approval: expected none, or { approvers: N, from: GROUP }',
        'rules[3].id: duplicate rule id "docs" (also rules[0])',
        'rules[3].max_ttl: at most 24h (86400 seconds)',
      ]
        .map((p) => p.replace('rules[3].actions', 'rules[3].match.actions'))
        .sort(),
    )
  })

  it('reports a PolicyError whose message names the source and lists the problems', () => {
    try {
      loadPolicy('version: 2\n', { source: '/etc/writ/policy.yaml' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError)
      expect((err as PolicyError).message).toBe('invalid policy /etc/writ/policy.yaml:\n  - version: expected 1')
    }
  })

  it('requires version, approval and match', () => {
    expect(problems('clients: []\n')).toEqual(['version: required (version: 1)'])
    expect(problems('version: 1\nrules: [ { id: r, max_ttl: 1m } ]\n')).toEqual([
      'rules[0].match: required',
      'rules[0].approval: required: none, or { approvers: N, from: GROUP }',
    ])
  })

  it('reports malformed YAML with its line', () => {
    const found = problems('version: 1\nrules:\n  - id: a\n    id: b\n')
    expect(found).toEqual(['duplicate key at line 4, column 5'])
    expect(problems('version: 1\nrules: [\n')[0]).toMatch(/at line \d+, column \d+$/)
    expect(problems('version: 1\n---\nversion: 1\n')).toEqual(['expected a single document, found more than one at line 2, column 1'])
    expect(problems('version: !!js/function "x"\n')[0]).toMatch(/^tags are not allowed/)
  })

  it('refuses a top level that is not a mapping', () => {
    expect(problems('- a\n- b\n')).toEqual(['expected a mapping with version, clients, approver_groups and rules'])
    expect(problems('')).toEqual(['expected a mapping with version, clients, approver_groups and rules'])
  })

  it('refuses JWKs with private members, symmetric keys, no kid, duplicates, bad curves and short RSA keys', () => {
    const client = (keys: unknown[]) => `
version: 1
clients:
  - id: j
    auth: private_key_jwt
    jwks: { keys: ${JSON.stringify(keys)} }
`
    const withoutKid = { ...EC_PUBLIC } as Record<string, unknown>
    delete withoutKid.kid
    expect(problems(client([EC_PRIVATE]))).toEqual([
      'clients[0].jwks.keys[0].d: private key member not allowed; register the public key only',
    ])
    expect(problems(client([{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }]))).toEqual([
      'clients[0].jwks.keys[0].kty: symmetric (oct) keys are not allowed; register a public key',
    ])
    expect(problems(client([withoutKid]))).toEqual(['clients[0].jwks.keys[0].kid: required'])
    expect(problems(client([EC_PUBLIC, { ...ED_PUBLIC, kid: 'k1' }]))).toEqual([
      'clients[0].jwks.keys[1].kid: duplicate kid "k1" (also keys[0])',
    ])
    expect(problems(client([{ ...EC_PUBLIC, crv: 'secp256k1' }]))).toEqual([
      'clients[0].jwks.keys[0].crv: expected one of P-256, P-384, P-521',
    ])
    expect(problems(client([{ ...EC_PUBLIC, x: 'AAAA' }]))).toEqual(['clients[0].jwks.keys[0]: not a valid EC public key'])
    expect(problems(client([RSA_SHORT]))).toEqual(['clients[0].jwks.keys[0].n: RSA keys must have at least 2048 bits (got 1024)'])
    expect(problems(client([{ ...EC_PUBLIC, use: 'enc' }]))).toEqual(['clients[0].jwks.keys[0].use: expected "sig"'])
    expect(problems(client([{ ...EC_PUBLIC, alg: 'HS256' }]))[0]).toMatch(/^clients\[0\]\.jwks\.keys\[0\]\.alg: expected one of ES256/)
    expect(problems(client([]))).toEqual(['clients[0].jwks.keys: must not be empty'])
  })

  it('refuses webhooks over plain http to other hosts and bad environment variable names', () => {
    const text = `
version: 1
approver_groups:
  - id: g
    members: [a]
    webhook: { url: http://hooks.example.com/writ, secret_env: lower-case }
  - id: h
    members: [a]
    webhook: { url: http://localhost:9000/hook, secret_env: HOOK_SECRET }
`
    expect(problems(text)).toEqual([
      'approver_groups[0].webhook.url: expected an https URL (http only for localhost)',
      'approver_groups[0].webhook.secret_env: expected an environment variable name like WRIT_WEBHOOK_SECRET',
    ])
  })

  it("reads a group's webhooks as one target or a list, signed by default or in Slack format", () => {
    const policy = loadPolicy(`
version: 1
approver_groups:
  - id: g
    members: [a]
    webhook:
      - { url: https://hooks.example.com/writ, secret_env: HOOK_SECRET }
      - { format: slack, url_env: WRIT_SLACK_WEBHOOK_URL }
  - id: h
    members: [a]
    webhook: { format: slack, url: "http://localhost:9000/slack" }
  - id: i
    members: [a]
`)
    expect(policy.approverGroups.get('g')?.webhooks).toEqual([
      { format: 'signed', url: 'https://hooks.example.com/writ', secretEnv: 'HOOK_SECRET' },
      { format: 'slack', urlEnv: 'WRIT_SLACK_WEBHOOK_URL' },
    ])
    expect(policy.approverGroups.get('h')?.webhooks).toEqual([{ format: 'slack', url: 'http://localhost:9000/slack' }])
    expect(policy.approverGroups.get('i')?.webhooks).toEqual([])
  })

  it('refuses webhook targets whose members do not fit their format, naming the field', () => {
    const text = `
version: 1
approver_groups:
  - id: g
    members: [a]
    webhook: { url: https://hooks.example.com/writ }
  - id: h
    members: [a]
    webhook: [{ format: slack, url: "https://hooks.slack.com/services/T/B/x", url_env: SLACK_URL }]
  - id: i
    members: [a]
    webhook: { format: slack, url_env: SLACK_URL, secret_env: HOOK_SECRET }
  - id: j
    members: [a]
    webhook: { format: teams, url: https://hooks.example.com/t }
  - id: k
    members: [a]
    webhook: []
`
    expect(problems(text)).toEqual([
      'approver_groups[0].webhook.secret_env: required (the notices are signed with it)',
      'approver_groups[1].webhook[0].url_env: format: slack needs exactly one of url and url_env',
      'approver_groups[2].webhook.secret_env: not used by format: slack (Slack does not check signatures)',
      'approver_groups[3].webhook.format: expected "signed" or "slack"',
      'approver_groups[4].webhook: expected at least one webhook',
    ])
  })

  it('refuses __proto__ keys and unknown top-level keys', () => {
    expect(problems('version: 1\n__proto__: { polluted: true }\n')).toContain('__proto__: field name not allowed')
    expect(problems('version: 1\nclient: []\n')).toEqual(['unknown field "client"'])
  })

  it('accepts only own or any as whose tokens a client may introspect', () => {
    const resourceServer = (introspect: string) =>
      `version: 1\nclients:\n  - { id: rs, auth: client_secret, secret_hash: "${HASH}", introspect: ${introspect} }\n`
    expect(problems(resourceServer('everyone'))).toEqual(['clients[0].introspect: expected own or any'])
    expect(problems(resourceServer('true'))).toEqual(['clients[0].introspect: expected own or any'])
  })
})

describe('loadPolicyFile', () => {
  it('reads a policy file and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-policy-'))
    const good = join(dir, 'good.yaml')
    const bad = join(dir, 'bad.yaml')
    writeFileSync(good, VALID)
    writeFileSync(bad, 'version: 1\nrules: 5\n')
    expect(loadPolicyFile(good).source).toBe(good)
    expect(() => loadPolicyFile(bad)).toThrow(`invalid policy ${bad}:\n  - rules: expected a list of rules`)
    expect(() => loadPolicyFile(join(dir, 'missing.yaml'))).toThrow(PolicyError)
  })
})
