import type { AuthorizationDetail, Manifest } from '../../src/manifest/types.js'
import { loadPolicy } from '../../src/policy/load-policy.js'
import type { Policy } from '../../src/policy/types.js'

export const HASH = '$argon2id$v=19$m=19456,t=2,p=1$Oxayyd5izrNNJCb6Y3Rq3w$yJQfl+cUlpYTRSfXZbXBsSD0YRcnsFOrKaUYQvZyI7w'

/** Rules in a deliberate order: the narrow approval-free rule first, a broad one after it. */
export const POLICY_TEXT = `
version: 1
clients:
  - id: demo-agent
    auth: client_secret
    secret_hash: "${HASH}"
    rules: [docs-read, docs-write, prod-deploy, repo-any]
  - id: reader
    auth: client_secret
    secret_hash: "${HASH}"
    rules: [docs-read]
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com, carol@example.com]
  - id: sre
    members: [dave@example.com]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: docs-write
    match: { type: repo, actions: [write], locations: ["https://git.example.com/acme/app"], identifier: "docs/**" }
    max_ttl: 5m
    approval: none
  - id: prod-deploy
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 2, from: release-managers, require_dpop: true }
  - id: repo-any
    match: { type: repo, actions: [read, write, admin] }
    max_ttl: 2h
    approval: { approvers: 1, from: sre }
  - id: unused
    match: { type: repo, actions: [read] }
    max_ttl: 1h
    approval: none
`

export const policy = (): Policy => loadPolicy(POLICY_TEXT)

export const docsRead: AuthorizationDetail = {
  type: 'repo',
  actions: ['read'],
  locations: ['https://git.example.com/acme/app'],
  identifier: 'docs/**',
}
export const docsWrite: AuthorizationDetail = { ...docsRead, actions: ['write'] }
export const deploy: AuthorizationDetail = {
  type: 'deploy',
  actions: ['create'],
  locations: ['https://deploy.example.com/acme/app'],
}

export const manifest = (grants: AuthorizationDetail[], ttlSeconds?: number): Manifest =>
  ttlSeconds === undefined ? { task: { id: 'T-1' }, grants } : { task: { id: 'T-1' }, ttlSeconds, grants }
