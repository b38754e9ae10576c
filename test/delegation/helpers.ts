import * as oauth from 'oauth4webapi'
import { decodeJwt } from 'jose'
import { hashSecret } from '../../src/client-auth/index.js'
import { ISSUER, makeTestBroker, type TestBroker } from '../helpers/broker.js'
import type { ConfigInput } from '../../src/config.js'
import type { Store } from '../../src/open-store.js'

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

/** Every client of the delegation policy; `secretOf` gives its client secret. */
export const CLIENTS = ['planner', 'worker', 'sub', 'leaf', 'outsider'] as const
export type ClientName = (typeof CLIENTS)[number]
export const secretOf = (client: string): string => `${client}-secret-${client.length}`

let policy: Promise<string> | undefined

/**
 * planner may delegate to worker (two hand-overs deep at most); worker to sub; sub to leaf (each
 * allowing more, so planner's limit is the one that binds a chain from it). outsider is in no
 * delegate_to list. Rules: docs read/write on acme repos, and deploy, which needs approval and
 * DPoP.
 */
export function delegationPolicyText(): Promise<string> {
  policy ??= (async () => {
    const hashes = Object.fromEntries(
      await Promise.all(CLIENTS.map(async (c) => [c, await hashSecret(secretOf(c))] as const)),
    ) as Record<ClientName, string>
    return `
version: 1
clients:
  - id: planner
    auth: client_secret
    secret_hash: "${hashes.planner}"
    rules: [docs-read, docs-write]
    delegate_to: { clients: [worker], max_depth: 2 }
  - id: worker
    auth: client_secret
    secret_hash: "${hashes.worker}"
    rules: [docs-read]
    delegate_to: { clients: [sub], max_depth: 5 }
  - id: sub
    auth: client_secret
    secret_hash: "${hashes.sub}"
    delegate_to: { clients: [leaf], max_depth: 5 }
  - id: leaf
    auth: client_secret
    secret_hash: "${hashes.leaf}"
  - id: outsider
    auth: client_secret
    secret_hash: "${hashes.outsider}"
    rules: [docs-read]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: docs-write
    match: { type: repo, actions: [write], locations: ["https://git.example.com/acme/app"], identifier: "docs/**" }
    max_ttl: 10m
    approval: none
`
  })()
  return policy
}

export async function makeDelegationBroker(
  options: { store?: Store; config?: ConfigInput } = {},
): Promise<TestBroker> {
  return makeTestBroker({
    policyText: await delegationPolicyText(),
    config: { dpop: { requireNonce: false }, ...options.config },
    ...(options.store ? { store: options.store } : {}),
  })
}

export const APP = 'https://git.example.com/acme/app'

/** oauth4webapi against the in-process broker: its fetch goes to `broker.call` (OpenAPI-checked). */
export function oauthClient(broker: TestBroker, client: string) {
  const as: oauth.AuthorizationServer = { issuer: ISSUER, token_endpoint: `${ISSUER}/oauth/token` }
  const meta: oauth.Client = { client_id: client }
  const auth = oauth.ClientSecretBasic(secretOf(client))
  const fetchImpl = (async (url: string, init: RequestInit) => {
    const path = new URL(url).pathname
    return broker.call(init.method ?? 'GET', path, init)
  }) as unknown as typeof fetch
  return {
    as,
    meta,
    /** client_credentials for a manifest's grants. */
    async issue(grants: unknown[], extra: Record<string, string> = {}, dpop?: oauth.DPoPHandle) {
      const res = await oauth.clientCredentialsGrantRequest(
        as,
        meta,
        auth,
        { authorization_details: JSON.stringify(grants), task_id: 'JIRA-4711', requested_by: 'carol@example.com', ...extra },
        { [oauth.customFetch]: fetchImpl, ...(dpop ? { DPoP: dpop } : {}) },
      )
      return oauth.processClientCredentialsResponse(as, meta, res)
    },
    /** The raw token-exchange response (RFC 8693) through oauth4webapi's generic grant request. */
    exchangeResponse(subjectToken: string, params: Record<string, string>, dpop?: oauth.DPoPHandle) {
      return oauth.genericTokenEndpointRequest(
        as,
        meta,
        auth,
        TOKEN_EXCHANGE,
        { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, ...params },
        { [oauth.customFetch]: fetchImpl, ...(dpop ? { DPoP: dpop } : {}) },
      )
    },
    /** A token exchange that must succeed. */
    async exchange(subjectToken: string, params: Record<string, string>, dpop?: oauth.DPoPHandle) {
      const res = await this.exchangeResponse(subjectToken, params, dpop)
      return oauth.processGenericTokenEndpointResponse(as, meta, res)
    },
    /** A token exchange that must fail: its status and RFC 6749 error body. */
    async refused(subjectToken: string, params: Record<string, string>, dpop?: oauth.DPoPHandle) {
      const res = await this.exchangeResponse(subjectToken, params, dpop)
      const err = await oauth.processGenericTokenEndpointResponse(as, meta, res).then(
        () => {
          throw new Error('the exchange was expected to be refused')
        },
        (e: unknown) => e,
      )
      if (!(err instanceof oauth.ResponseBodyError)) throw err
      return { status: err.status, error: err.error, description: err.error_description ?? '' }
    },
  }
}

/** The claims of a token (already verified by whoever issued or checked it). */
export const claimsOf = (token: string): Record<string, unknown> => decodeJwt(token) as Record<string, unknown>

export const details = (actions: string[], identifier: string, location = APP) => [
  { type: 'repo', actions, locations: [location], identifier },
]
