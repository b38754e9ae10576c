import { createHash, randomBytes } from 'node:crypto'
import { hashSecret } from '../../src/client-auth/index.js'
import type { Store } from '../../src/open-store.js'
import { SECRETS } from '../helpers/broker.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { form, json, makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'

export const CLIENT = 'desktop-app'
/** A resource server that may introspect every token. */
export const RS: [string, string] = ['resource-server', SECRETS['agent-b']]
export const REDIRECT = 'http://127.0.0.1/callback'
export const WEB_REDIRECT = 'https://app.example.com/oauth/cb'
export const DOCS = [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }]
export const DEPLOY = [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }]
export const MIGRATE = [{ type: 'db', actions: ['migrate'], locations: ['https://db.example.com/orders'] }]

/**
 * A public client (desktop-app) that may use docs-read (no human), self-deploy (1 of
 * release-managers, the requester may approve), careful-deploy (1 of release-managers, not the
 * requester) and db-migrate (2 of dbas); a confidential agent-a.
 */
export async function authorizationPolicyText(): Promise<string> {
  return `
version: 1
clients:
  - id: ${CLIENT}
    auth: none
    redirect_uris: ["${REDIRECT}", "${WEB_REDIRECT}"]
    rules: [docs-read, self-deploy, careful-deploy, db-migrate]
  - { id: agent-a, auth: client_secret, secret_hash: "${await hashSecret(SECRETS['agent-a'])}", rules: [docs-read] }
  - { id: resource-server, auth: client_secret, secret_hash: "${await hashSecret(SECRETS['agent-b'])}", introspect: any }
approver_groups:
  - { id: release-managers, members: [alice@example.com, bob@example.com] }
  - { id: dbas, members: [dana@example.com, erin@example.com] }
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: self-deploy
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 1, from: release-managers, forbid_self_approval: false }
  - id: careful-deploy
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/prod"] }
    max_ttl: 10m
    approval: { approvers: 1, from: release-managers }
  - id: db-migrate
    match: { type: db, actions: [migrate], locations: ["https://db.example.com/*"] }
    max_ttl: 10m
    approval: { approvers: 2, from: dbas }
scopes:
  - name: docs:read
    grants:
      - { type: repo, actions: [read], identifier: "docs/**" }
`
}

export async function makeAuthorizationBroker(options: { store?: Store } = {}): Promise<ApprovalBroker> {
  return makeApprovalBroker({ policyText: await authorizationPolicyText(), ...options })
}

/** A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export interface AuthorizeParams {
  client_id?: string
  redirect_uri?: string
  response_type?: string
  code_challenge?: string
  code_challenge_method?: string
  authorization_details?: string
  state?: string
  resource?: string[]
  dpop_jkt?: string
  scope?: string
}

/** The query of an authorization request: a valid one for docs by default, with overrides. */
export function authorizeQuery(challenge: string, overrides: AuthorizeParams = {}): string {
  const params = {
    response_type: 'code',
    client_id: CLIENT,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    authorization_details: JSON.stringify(DOCS),
    state: 'st-123',
    ...overrides,
  }
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) query.append(name, one)
  }
  return query.toString()
}

/** Starts an authorization request; returns the consent page's request id. */
export async function startRequest(broker: ApprovalBroker, query: string): Promise<string> {
  const res = await broker.call('GET', `/oauth/authorize?${query}`)
  const page = await res.text()
  if (res.status !== 200) throw new Error(`authorize: ${res.status} ${res.headers.get('location') ?? page}`)
  const id = /data-base="\/oauth\/authorize\/([^"]+)"/.exec(page)?.[1]
  if (!id) throw new Error('no request id on the consent page')
  return id
}

export async function consentOptions(broker: ApprovalBroker, id: string) {
  const res = await broker.call('POST', `/oauth/authorize/${id}/options`, json({}))
  if (res.status !== 200) throw new Error(`options: ${res.status} ${await res.text()}`)
  return res.json()
}

export function submitConsent(broker: ApprovalBroker, id: string, assertion: unknown) {
  return broker.call('POST', `/oauth/authorize/${id}/consent`, json(assertion))
}

/** Consents to request `id` with `auth`'s key; returns the redirect's query parameters. */
export async function consent(broker: ApprovalBroker, id: string, auth: SoftAuthenticator): Promise<URLSearchParams> {
  const res = await submitConsent(broker, id, auth.assert(await consentOptions(broker, id)))
  if (res.status !== 200) throw new Error(`consent: ${res.status} ${await res.text()}`)
  return new URL((await res.json()).redirect_to).searchParams
}

/** The authorization_code token request of a public client. */
export function redeem(broker: ApprovalBroker, params: Record<string, string>, headers: Record<string, string> = {}) {
  const init = form({ grant_type: 'authorization_code', client_id: CLIENT, redirect_uri: REDIRECT, ...params })
  return broker.call('POST', '/oauth/token', { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } })
}
