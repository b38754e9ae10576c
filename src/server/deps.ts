import type { AdminAuthenticator } from '../admin/index.js'
import type { ApprovalDeps } from '../approvals/deps.js'
import type { InboxDeps } from '../approvals/inbox/deps.js'
import type { Auditor } from '../audit/create-auditor.js'
import type { AuthorizationDeps } from '../authorization/index.js'
import type { ClientAuthenticator } from '../client-auth/index.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { AwsVending } from '../credentials/aws/index.js'
import type { TokenEndpointDpop } from '../dpop/token-endpoint-dpop.js'
import type { SubjectTokenVerifier } from '../delegation/verify-subject-token.js'
import type { IssueGrantDeps } from '../grants/issue-grant.js'
import type { GrantStore } from '../grants/store.js'
import type { Logger } from '../logger.js'
import type { LivePolicy } from '../policy/live-policy.js'
import type { AppliedPolicy } from '../policy/stored-policy.js'
import type { AuditActor } from '../audit/types.js'
import type { OnceStore } from '../store/once-store.js'
import type { KeyManager } from '../tokens/index.js'
import type { Telemetry } from '../observability/create-telemetry.js'

/**
 * Everything the HTTP layer needs, finished: built by `broker.ts` (the composition root) and
 * passed in. The routes build no service of their own.
 */
export interface AppDeps {
  config: Config
  /** The policy in force: read per request (each request is pinned to one policy). */
  policy: LivePolicy
  /** `writ policy apply`: present only when the policy lives in the store (`policySource: store`). */
  applyPolicy?: (text: string, actor: AuditActor) => Promise<AppliedPolicy>
  /** The grants port of the store (issuance, lookups, revocation, locks). */
  store: GrantStore
  /** Single-use markers (the AWS route's DPoP proofs). */
  once: OnceStore
  /** The store as a whole, for readiness: what it is and whether it answers. */
  storeHealth: { readonly kind: 'memory' | 'redis'; ping(): Promise<void> }
  keys: KeyManager
  /**
   * Client authentication on every route: failures audited, each authenticated client within its
   * request rate (`config.limits`).
   */
  clients: ClientAuthenticator
  clock: Clock
  logger: Logger
  /** The OpenAPI document served at /openapi.yaml. */
  openapi: string
  /** Human approval: approval requests, security keys, ceremonies. */
  approvals: ApprovalDeps
  /** The approver inbox: sign-in with an enrolled key, sessions, the list of requests to decide. */
  inbox: InboxDeps
  /** AWS credential vending; absent unless `config.aws` is set (the route then answers 404). */
  aws?: Pick<AwsVending, 'vend'>
  /** The audit trail (see `Auditor`); `clients` failures are audited through it. */
  audit: Auditor
  /** Metrics and tracing (absent: neither; tests that build an app by hand). */
  telemetry?: Telemetry
  /** What issuance and token inspection need. */
  issue: IssueGrantDeps
  /** DPoP proofs at the token endpoints (RFC 9449). */
  dpop: TokenEndpointDpop
  /**
   * Verifies trusted identity providers' ID tokens for token exchange on behalf of a person
   * (the policy's `issuers:`). Absent: such exchanges are refused.
   */
  subjectTokens?: SubjectTokenVerifier
  /** The admin bearer token check, one per app so every /admin route shares its cache. */
  admin: AdminAuthenticator
  /** The authorization code flow (interactive public clients). */
  authorization: AuthorizationDeps
}
