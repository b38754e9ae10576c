import { CreateRoleCommand, GetRolePolicyCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam'
import type { AuditLog } from '../../../src/audit/audit-log.js'
import { createBroker, type Broker } from '../../../src/broker.js'
import { hashSecret } from '../../../src/client-auth/index.js'
import { manualClock } from '../../../src/clock.js'
import { parseConfig } from '../../../src/config.js'
import type { Store } from '../../../src/open-store.js'
import { silentLogger } from '../../../src/logger.js'
import type { AuthorizationDetail } from '../../../src/manifest/types.js'
import { ISSUER, type TestResponse } from '../../helpers/broker.js'
import type { PrivateMoto } from '../../helpers/moto.js'
import { checkResponse } from '../../helpers/openapi.js'
import { ROLE } from './fixtures.js'

export const AGENT: [string, string] = ['agent-a', 'agent-a-secret']
/** A second client with the same rules, for tests where one client must not affect another. */
export const OTHER_AGENT: [string, string] = ['agent-b', 'agent-b-secret']
export const EXTERNAL_ID = 'writ-external-1'

let hash: Promise<string> | undefined
let otherHash: Promise<string> | undefined

/** A policy allowing agent-a and agent-b aws grants on `roles` and a repo grant. */
export async function awsPolicyText(roles: readonly string[]): Promise<string> {
  hash ??= hashSecret(AGENT[1])
  otherHash ??= hashSecret(OTHER_AGENT[1])
  return `
version: 1
clients:
  - { id: agent-a, auth: client_secret, secret_hash: "${await hash}", rules: [aws-s3, docs-read] }
  - { id: agent-b, auth: client_secret, secret_hash: "${await otherHash}", rules: [aws-s3, docs-read] }
rules:
  - id: aws-s3
    match:
      type: aws
      actions: [s3:GetObject, s3:ListBucket, s3:PutObject]
      locations: ${JSON.stringify(roles)}
    max_ttl: 1h
    approval: none
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"] }
    max_ttl: 1h
    approval: none
`
}

export interface AwsTestBroker extends Broker {
  clock: ReturnType<typeof manualClock>
  iam: IAMClient
  /** `app.request` that also checks every response against openapi.yaml. */
  call(method: string, path: string, init?: RequestInit & { basic?: [string, string] }): Promise<TestResponse>
  /** A token for agent-a (or `options.client`) carrying `grants`. */
  token(grants: AuthorizationDetail[], options?: { ttl?: string; taskId?: string; headers?: Record<string, string>; client?: [string, string] }): Promise<{ access_token: string; grant_id: string; expires_in: number }>
  /** POST /v1/credentials/aws with a bearer token. */
  credentials(token: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse>
}

/** Creates `roleName` in moto (idempotent per test run: call once per role). */
export async function createRole(iam: IAMClient, roleName: string, maxSessionSeconds = 3600): Promise<string> {
  const out = await iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [] }),
      MaxSessionDuration: maxSessionSeconds,
    }),
  )
  return out.Role!.Arn!
}

/** The role's inline policy `name` as parsed JSON, or null when it does not exist. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type IamPolicy = { Statement: Array<Record<string, any>> }

export async function rolePolicy(iam: IAMClient, roleArn: string, name = 'writ-revoked-sessions'): Promise<IamPolicy | null> {
  try {
    const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleArn.split('/').pop()!, PolicyName: name }))
    return JSON.parse(decodeURIComponent(out.PolicyDocument!)) as IamPolicy
  } catch (err) {
    if (err instanceof NoSuchEntityException) return null
    throw err
  }
}

/** A broker with `aws` configured against moto, its own manual clock and the given store and audit log. */
export async function makeAwsBroker(
  moto: PrivateMoto,
  options: { store?: Store; clock?: ReturnType<typeof manualClock>; roles?: Array<{ arn: string; maxSessionSeconds?: number; externalId?: string }>; policyRoles?: string[]; aws?: Record<string, unknown>; auditLog?: AuditLog } = {},
): Promise<AwsTestBroker> {
  const clock = options.clock ?? manualClock(Date.now())
  const roles = options.roles ?? [{ arn: ROLE, externalId: EXTERNAL_ID }]
  const config = parseConfig({
    issuer: ISSUER,
    devMode: true,
    dpop: { requireNonce: false },
    aws: { region: 'us-east-1', endpoint: moto.endpoint, roles, ...options.aws },
  })
  const broker = await createBroker(config, {
    logger: silentLogger,
    clock,
    policyText: await awsPolicyText(options.policyRoles ?? roles.map((r) => r.arn)),
    awsCredentials: moto.credentials,
    ...(options.store ? { store: options.store } : {}),
    ...(options.auditLog ? { auditLog: options.auditLog } : {}),
  })
  const iam = new IAMClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: moto.credentials })
  const call: AwsTestBroker['call'] = async (method, path, init = {}) => {
    const { basic, ...rest } = init
    const headers = new Headers(rest.headers)
    if (basic) headers.set('authorization', `Basic ${Buffer.from(`${basic[0]}:${basic[1]}`).toString('base64')}`)
    const res = await broker.app.request(`${ISSUER}${path}`, { ...rest, method, headers })
    await checkResponse(method, path, res)
    return res
  }
  return {
    ...broker,
    clock,
    iam,
    call,
    async close() {
      iam.destroy()
      await broker.close()
    },
    async token(grants, tokenOptions = {}) {
      const manifest = { task: { id: tokenOptions.taskId ?? 'JIRA-4711' }, ttl: tokenOptions.ttl ?? '30m', grants }
      const res = await call('POST', '/v1/tokens', {
        headers: { 'content-type': 'application/json', ...tokenOptions.headers },
        body: JSON.stringify(manifest),
        basic: tokenOptions.client ?? AGENT,
      })
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`)
      return (await res.json()) as { access_token: string; grant_id: string; expires_in: number }
    },
    credentials(token, body, headers = {}) {
      return call('POST', '/v1/credentials/aws', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })
    },
  }
}
