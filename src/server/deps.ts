import { type AdminAuthenticator, createAdminAuthenticator } from '../admin/index.js'
import { createApprovalRequest } from '../approvals/requests/create-approval-request.js'
import type { ApprovalDeps } from '../approvals/deps.js'
import { auditClientAuthentication } from '../client-auth/audit-client-authentication.js'
import type { Auditor } from '../audit/create-auditor.js'
import type { ClientAuthenticator } from '../client-auth/index.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { AwsVending } from '../credentials/aws/index.js'
import { dpopNonceSecret } from '../dpop/dpop-nonce-secret.js'
import { createTokenEndpointDpop, type TokenEndpointDpop } from '../dpop/token-endpoint-dpop.js'
import type { IssueGrantDeps } from '../grants/issue-grant.js'
import type { GrantStore } from '../grants/store.js'
import { createRateLimiter, rateLimitClients } from '../limits/index.js'
import type { Logger } from '../logger.js'
import type { Policy } from '../policy/index.js'
import type { KeyManager } from '../tokens/index.js'
import type { Telemetry } from '../observability/create-telemetry.js'

/** Everything the HTTP layer needs, built by main.ts (or a test) and passed in. */
export interface AppDeps {
  config: Config
  policy: Policy
  store: GrantStore
  keys: KeyManager
  clients: ClientAuthenticator
  clock: Clock
  logger: Logger
  /** The OpenAPI document served at /openapi.yaml. */
  openapi: string
  /** Human approval: approval requests, security keys, ceremonies. */
  approvals: ApprovalDeps
  /** AWS credential vending; absent unless `config.aws` is set (the route then answers 404). */
  aws?: Pick<AwsVending, 'vend'>
  /** The audit trail (see `Auditor`); `clients` failures are audited through it. */
  audit: Auditor
  /** Metrics and tracing (absent: neither; tests that build an app by hand). */
  telemetry?: Telemetry
  /** Derived: what issuance and token inspection need. */
  issue: IssueGrantDeps
  /** Derived: DPoP proofs at the token endpoints (RFC 9449). */
  dpop: TokenEndpointDpop
  /** Derived: the admin bearer token check, one per app so every /admin route shares its cache. */
  admin: AdminAuthenticator
}

export type AppDepsInput = Omit<AppDeps, 'issue' | 'dpop' | 'admin'>

export function withDerived(input: AppDepsInput): AppDeps {
  const { config } = input
  const nonceKey = dpopNonceSecret({ nonceSecret: config.dpop.nonceSecret, kek: config.keys.kek })
  if (!nonceKey.shared && config.store.kind === 'redis' && config.dpop.requireNonce) {
    input.logger.warn(
      'DPoP nonces use a per-process secret: replicas refuse each other\'s nonces; set dpop.nonceSecret or keys.kek',
    )
  }
  return {
    ...input,
    // Ensure every failed client authentication, on any route, leaves an audit event, and every
    // authenticated client stays within its request rate (config.limits).
    clients: rateLimitClients(
      auditClientAuthentication(input.clients, input.audit),
      createRateLimiter({
        burst: config.limits.clientBurst,
        perSecond: config.limits.clientRequestsPerSecond,
        maxKeys: 100_000,
        clock: input.clock,
      }),
    ),
    // Ensure wrong admin tokens from one address cost argon2 only within that address's budget.
    admin: createAdminAuthenticator({
      tokenHash: config.admin.tokenHash,
      clock: input.clock,
      cacheSeconds: config.admin.tokenCacheSeconds,
      failureBudget: createRateLimiter({
        burst: config.limits.adminAuthFailureBurst,
        perSecond: config.limits.adminAuthFailuresPerMinute / 60,
        maxKeys: 100_000,
        clock: input.clock,
      }),
    }),
    dpop: createTokenEndpointDpop({
      issuer: config.issuer,
      store: input.store,
      clock: input.clock,
      nonceSecret: nonceKey.secret,
      requireNonce: config.dpop.requireNonce,
      nonceLifetimeSeconds: config.dpop.nonceLifetimeSeconds,
      proofMaxAgeSeconds: config.dpop.proofMaxAgeSeconds,
    }),
    issue: {
      policy: input.policy,
      store: input.store,
      keys: input.keys,
      issuer: input.config.issuer,
      tokens: input.config.tokens,
      clock: input.clock,
      audit: input.audit,
      requestApproval: (approvalInput) => createApprovalRequest(input.approvals, approvalInput),
      ...(input.telemetry?.tracer ? { signing: input.telemetry.traceSigning } : {}),
    },
  }
}
