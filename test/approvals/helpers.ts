import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AuditLog } from '../../src/audit/audit-log.js'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { manualClock } from '../../src/clock.js'
import { parseConfig, type ConfigInput } from '../../src/config.js'
import type { Store } from '../../src/open-store.js'
import type { Tracer } from '@opentelemetry/api'
import { type Logger, silentLogger } from '../../src/logger.js'
import { ISSUER, SECRETS, type TestResponse } from '../helpers/broker.js'
import { checkResponse } from '../helpers/openapi.js'
import { type AttestationMode, SoftAuthenticator } from './fixtures/soft-authenticator.js'
import { attestationPki, type AttestationPki } from './fixtures/x509.js'

export { ISSUER, SECRETS }
export const ORIGIN = ISSUER
export const AAGUID = '3b8a3f6e-2c4d-4e5f-8a9b-0c1d2e3f4a5b'
export const ADMIN_TOKEN = 'writ-test-admin-token-0123456789abcdef'
export const WEBHOOK_SECRET = 'whsec-test-3f1c'
export const A: [string, string] = ['agent-a', SECRETS['agent-a']]
export const B: [string, string] = ['agent-b', SECRETS['agent-b']]

/** One attestation PKI per test file: the root is the broker's trust anchor. */
export const PKI: AttestationPki = attestationPki(AAGUID)

let hashes: Promise<{ a: string; b: string; admin: string }> | undefined
const secretHashes = () =>
  (hashes ??= (async () => ({
    a: await hashSecret(SECRETS['agent-a']),
    b: await hashSecret(SECRETS['agent-b']),
    admin: await hashSecret(ADMIN_TOKEN),
  }))())

/**
 * deploy-prod: 1 of release-managers, the requester may not approve (webhook configured).
 * db-migrate: 2 of dbas. docs-read: no human.
 */
export async function approvalPolicyText(): Promise<string> {
  const { a, b } = await secretHashes()
  return `
version: 1
clients:
  - { id: agent-a, auth: client_secret, secret_hash: "${a}", rules: [docs-read, deploy-prod, db-migrate] }
  - { id: agent-b, auth: client_secret, secret_hash: "${b}", rules: [docs-read, deploy-prod] }
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com, carol@example.com]
    webhook: { url: "https://hooks.example.com/writ", secret_env: WRIT_TEST_WEBHOOK_SECRET }
  - id: dbas
    members: [dana@example.com, erin@example.com]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: deploy-prod
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 10m
    approval: { approvers: 1, from: release-managers, forbid_self_approval: true }
  - id: db-migrate
    match: { type: db, actions: [migrate], locations: ["https://db.example.com/*"] }
    max_ttl: 10m
    approval: { approvers: 2, from: dbas }
`
}

export const deployManifest = (overrides: Record<string, unknown> = {}) => ({
  task: { id: 'REL-42', purpose: 'Deploy release 4.2 to production', requested_by: 'carol@example.com' },
  ttl: '5m',
  grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }],
  ...overrides,
})

export const migrateManifest = () => ({
  task: { id: 'DB-7', purpose: 'Add the orders index', requested_by: 'frank@example.com' },
  grants: [{ type: 'db', actions: ['migrate'], locations: ['https://db.example.com/orders'] }],
})

export interface CallInit extends RequestInit {
  basic?: [string, string]
  bearer?: string
}

export interface ApprovalBroker extends Broker {
  clock: ReturnType<typeof manualClock>
  /** `app.request` that also checks every response against openapi.yaml. */
  call(method: string, path: string, init?: CallInit): Promise<TestResponse>
  /** Webhook deliveries the broker attempted. */
  webhooks: Array<{ url: string; init: RequestInit }>
  /** A software authenticator attesting with this file's PKI (or as told). */
  authenticator(attestation?: AttestationMode, aaguid?: string): SoftAuthenticator
}

export async function makeApprovalBroker(
  options: {
    store?: Store
    config?: ConfigInput
    fetch?: typeof fetch
    auditLog?: AuditLog
    /** The policy, instead of {@link approvalPolicyText}'s. */
    policyText?: string
    /** Where the broker logs. Default: nowhere. */
    logger?: Logger
    /** Passed to createBroker (false: no spans). */
    tracer?: Tracer | false
    /** More environment (webhook secrets, Slack URLs) beside WRIT_TEST_WEBHOOK_SECRET. */
    env?: Record<string, string>
  } = {},
): Promise<ApprovalBroker> {
  const { admin } = await secretHashes()
  const dir = mkdtempSync(join(tmpdir(), 'writ-approvals-'))
  const rootFile = join(dir, 'roots.pem')
  writeFileSync(rootFile, PKI.root.pem)
  const clock = manualClock(Date.now())
  const base = parseConfig({
    issuer: ISSUER,
    devMode: true,
    admin: { tokenHash: admin },
    approvals: { attestation: { rootCertificateFiles: [rootFile], allowedAaguids: [AAGUID] } },
    ...options.config,
  })
  const webhooks: ApprovalBroker['webhooks'] = []
  const broker = await createBroker(base, {
    logger: options.logger ?? silentLogger,
    ...(options.tracer !== undefined ? { tracer: options.tracer } : {}),
    clock,
    policyText: (options.policyText ?? (await approvalPolicyText())),
    env: { WRIT_TEST_WEBHOOK_SECRET: WEBHOOK_SECRET, ...options.env },
    fetch:
      options.fetch ??
      (async (url, init) => {
        webhooks.push({ url: String(url), init: init ?? {} })
        return new Response(null, { status: 204 })
      }),
    ...(options.store ? { store: options.store } : {}),
    ...(options.auditLog ? { auditLog: options.auditLog } : {}),
  })
  return {
    ...broker,
    clock,
    webhooks,
    authenticator: (attestation = { fmt: 'packed', leaf: PKI.leaf, chain: [PKI.intermediate] }, aaguid = AAGUID) =>
      new SoftAuthenticator({ aaguid, origin: ORIGIN, attestation }),
    async call(method, path, init = {}) {
      const { basic, bearer, ...rest } = init
      const headers = new Headers(rest.headers)
      if (basic) {
        const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
        headers.set('authorization', `Basic ${Buffer.from(`${enc(basic[0])}:${enc(basic[1])}`).toString('base64')}`)
      }
      if (bearer) headers.set('authorization', `Bearer ${bearer}`)
      const res = await broker.app.request(`${ISSUER}${path}`, { ...rest, method, headers })
      await checkResponse(method, path, res)
      return res
    },
    async close() {
      await broker.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const json = (value: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
})

export const form = (params: Record<string, string>): RequestInit => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(params).toString(),
})

/** Enrols a key for a person through the admin API and the enrolment ceremony; returns its id. */
export async function enrol(
  broker: ApprovalBroker,
  auth: SoftAuthenticator,
  approver: string,
  group: string,
): Promise<string> {
  const invite = await broker.call('POST', '/admin/approvers/invites', { ...json({ approver, group }), bearer: ADMIN_TOKEN })
  if (invite.status !== 201) throw new Error(`invite: ${invite.status} ${await invite.text()}`)
  const path = new URL((await invite.json()).invite_url).pathname
  const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
  const res = await broker.call('POST', `${path}/verify`, json(auth.register(options)))
  if (res.status !== 200) throw new Error(`enrol: ${res.status} ${await res.text()}`)
  return (await res.json()).credential_id
}

/** The test policy's approvers, each with an authenticator and one enrolled key. */
export interface Cast {
  alice: SoftAuthenticator
  bob: SoftAuthenticator
  carol: SoftAuthenticator
  dana: SoftAuthenticator
  erin: SoftAuthenticator
  /** Each person's enrolled key id. */
  keys: { alice: string; bob: string; carol: string; dana: string; erin: string }
}

/** Enrols one key each for alice, bob and carol (release-managers) and dana and erin (dbas). */
export async function enrolCast(broker: ApprovalBroker): Promise<Cast> {
  const people = [
    ['alice', 'release-managers'],
    ['bob', 'release-managers'],
    ['carol', 'release-managers'],
    ['dana', 'dbas'],
    ['erin', 'dbas'],
  ] as const
  const cast = { keys: {} } as Cast
  for (const [name, group] of people) {
    cast[name] = broker.authenticator()
    cast.keys[name] = await enrol(broker, cast[name], `${name}@example.com`, group)
  }
  return cast
}

/** Asks for a manifest through /v1/tokens; returns the 202 body. */
export async function requestApproval(broker: ApprovalBroker, client: [string, string], manifest: unknown) {
  const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: client })
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status} ${await res.text()}`)
  const body = await res.json()
  return { ...body, id: (body.auth_req_id as string).split('.')[0]! } as {
    auth_req_id: string
    approval_uri: string
    expires_in: number
    interval: number
    id: string
  }
}

/** Gets ceremony options for a request. */
export async function ceremonyOptions(broker: ApprovalBroker, id: string, action: 'approve' | 'deny') {
  const res = await broker.call('POST', `/approve/${id}/options`, json({ action }))
  if (res.status !== 200) throw new Error(`options: ${res.status} ${await res.text()}`)
  return res.json()
}

/** Submits an assertion as approve (`/verify`) or deny. */
export function submit(broker: ApprovalBroker, id: string, action: 'approve' | 'deny', assertion: unknown) {
  return broker.call('POST', `/approve/${id}/${action === 'approve' ? 'verify' : 'deny'}`, json(assertion))
}

/** Polls the token endpoint with the CIBA grant. */
export function poll(broker: ApprovalBroker, client: [string, string], authReqId: string) {
  return broker.call('POST', '/oauth/token', {
    ...form({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId }),
    basic: client,
  })
}
