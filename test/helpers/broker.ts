import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { manualClock } from '../../src/clock.js'
import { parseConfig, type ConfigInput } from '../../src/config.js'
import type { Store } from '../../src/open-store.js'
import { silentLogger } from '../../src/logger.js'
import { checkResponse } from './openapi.js'

export const ISSUER = 'https://writ.test'
export const SECRETS = {
  'agent-a': 'secret-a: with spaces & symbols/+%',
  'agent-b': 'secret-b',
  'docs-service': 'secret-docs-service',
} as const

let hashes: Promise<{ a: string; b: string; rs: string }> | undefined
let jwtClientKey: Promise<{ privateKey: CryptoKey; jwk: JWK }> | undefined

/** The private_key_jwt test client's key pair (ES256), generated once per test file. */
export function clientKey(): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  jwtClientKey ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'agent-jwt-1', alg: 'ES256' } }
  })()
  return jwtClientKey
}

/** A policy exercising every rule shape; secrets are hashed with argon2id once per test file. */
export async function testPolicyText(options: { maxLiveGrants?: number } = {}): Promise<string> {
  hashes ??= (async () => ({
    a: await hashSecret(SECRETS['agent-a']),
    b: await hashSecret(SECRETS['agent-b']),
    rs: await hashSecret(SECRETS['docs-service']),
  }))()
  const { a, b, rs } = await hashes
  const { jwk } = await clientKey()
  return `
version: 1
clients:
  - id: agent-a
    auth: client_secret
    secret_hash: "${a}"
    rules: [docs-read, docs-write, deploy-prod]
    max_live_grants: ${options.maxLiveGrants ?? 1000}
  - id: agent-b
    auth: client_secret
    secret_hash: "${b}"
    rules: [docs-read]
  - id: agent-jwt
    auth: private_key_jwt
    jwks: { keys: [${JSON.stringify(jwk)}] }
    rules: [docs-read]
  - id: docs-service
    auth: client_secret
    secret_hash: "${rs}"
    introspect: any
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: docs-write
    match: { type: repo, actions: [write], locations: ["https://git.example.com/acme/app"], identifier: "docs/**" }
    max_ttl: 5m
    approval: none
  - id: deploy-prod
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 2, from: release-managers, require_dpop: true }
`
}

/** A Response whose JSON body tests may read field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TestResponse = Omit<Response, 'json'> & { json(): Promise<any> }

export interface TestBroker extends Broker {
  clock: ReturnType<typeof manualClock>
  /** `app.request` that also checks every response against openapi.yaml. */
  call(method: string, path: string, init?: RequestInit & { basic?: [string, string] }): Promise<TestResponse>
}

export async function makeTestBroker(
  options: { store?: Store; config?: ConfigInput; policyText?: string } = {},
): Promise<TestBroker> {
  const clock = manualClock(Date.now())
  // Tests opt in to the admin API with a hash; no token is bootstrapped behind their back.
  const config = parseConfig({
    issuer: ISSUER,
    devMode: true,
    ...options.config,
    admin: { bootstrap: false, ...options.config?.admin },
  })
  const broker = await createBroker(config, {
    logger: silentLogger,
    clock,
    policyText: options.policyText ?? (await testPolicyText()),
    ...(options.store ? { store: options.store } : {}),
  })
  return {
    ...broker,
    clock,
    async call(method, path, init = {}) {
      const { basic, ...rest } = init
      const headers = new Headers(rest.headers)
      if (basic) {
        const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
        headers.set('authorization', `Basic ${Buffer.from(`${enc(basic[0])}:${enc(basic[1])}`).toString('base64')}`)
      }
      const res = await broker.app.request(`${ISSUER}${path}`, { ...rest, method, headers })
      await checkResponse(method, path, res)
      return res
    },
  }
}

export const form = (params: Record<string, string>): RequestInit => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(params).toString(),
})

export const json = (value: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
})

export const docsManifest = (overrides: Record<string, unknown> = {}) => ({
  task: { id: 'JIRA-4711', purpose: 'Organize the project documentation', requested_by: 'carol@example.com' },
  ttl: '10m',
  grants: [
    { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
    { type: 'repo', actions: ['write'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
  ],
  ...overrides,
})
