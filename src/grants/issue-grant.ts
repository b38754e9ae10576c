import type { Auditor } from '../audit/create-auditor.js'
import { tokenDeniedEvent } from './token-denied-event.js'
import { type Clock, epochSeconds } from '../clock.js'
import { randomId } from '../random-id.js'
import { accessDenied, WritError } from '../errors.js'
import { LockRefusal } from '../locks/lock-refusal.js'
import { lockTargetsOf } from '../locks/types.js'
import { canonicalize, manifestSha256 } from '../manifest/index.js'
import type { AuthorizationDetail, Manifest } from '../manifest/types.js'
import { type ApprovalRequirement, type Decision, decide, type Policy, type ProvenPerson } from '../policy/index.js'
import {
  audienceFor,
  encodeAccessTokenPayload,
  type KeyManager,
  mintAccessToken,
  scopeFor,
} from '../tokens/index.js'
import { claimsSha256 } from '../wire/claims-digest.js'
import type { Grant, GrantApproval } from './grant.js'
import { recordGrant } from './record-grant.js'
import type { GrantStore } from './store.js'

export interface IssueGrantDeps {
  /** The policy in force (read once per issuance, never kept: it changes live). */
  policy: () => Policy
  store: GrantStore
  keys: KeyManager
  issuer: string
  tokens: { maxTtlSeconds: number; defaultTtlSeconds: number; defaultAudience: string }
  clock: Clock
  /**
   * Type-specific checks of a manifest's grants (the AWS module's `validateAwsGrants`), run before
   * policy, a human or a token sees them; each throws a WritError naming the grant and field.
   */
  validateDetails: ReadonlyArray<(details: readonly AuthorizationDetail[]) => void>
  /**
   * The audit trail: `grant.issued` is recorded (durably, or the request fails with 503) before a
   * token leaves; refusals are noted as `token.denied`.
   */
  audit: Pick<Auditor, 'record' | 'note' | 'sharedIntake'>
  /**
   * Starts a human approval for a manifest the policy says needs one (the approvals module's
   * `createApprovalRequest`). Absent: such manifests are refused.
   */
  requestApproval?: (input: ApprovalInput) => Promise<ApprovalPending>
  /** Runs the signing step (a seam for tracing it as its own span). Default: runs it as is. */
  signing?: <T>(sign: () => Promise<T>) => Promise<T>
}

/** A manifest that needs a human, handed to {@link IssueGrantDeps.requestApproval}. */
export interface ApprovalInput {
  clientId: string
  manifest: Manifest
  decision: Decision
  cnfJkt?: string | undefined
  /** The person a trusted issuer proved, when the request acts for one (token exchange). */
  person?: ProvenPerson | undefined
}

/** The answer while a human decides: a CIBA handle to poll with and the approval page. */
export interface ApprovalPending {
  /** For `grant_type=urn:openid:params:grant-type:ciba` at the token endpoint. */
  auth_req_id: string
  approval_uri: string
  expires_in: number
  /** Seconds to wait between polls. */
  interval: number
}

/** A human approval of this exact manifest, presented when its token is collected. */
export interface GivenApproval {
  approval: GrantApproval
  /** Whether the approval meets these requirements (the policy's, as it is now). */
  satisfies(requirements: readonly ApprovalRequirement[]): boolean
}

export interface IssueGrantRequest {
  clientId: string
  manifest: Manifest
  /** RFC 7638 thumbprint of a verified DPoP proof key, when the request carried one. */
  cnfJkt?: string
  /**
   * When the policy needs a human: `request` (default) starts an approval and answers
   * {@link ApprovalPending}; `refuse` answers access_denied (RFC 6749 client credentials, which
   * has no way to wait).
   */
  whenApprovalNeeded?: 'request' | 'refuse'
  /** The approval given to this manifest (CIBA redemption): mint under it, if it still suffices. */
  approved?: GivenApproval
  /** The person the token is for (its `sub`): the one who authorized the client (authorization code). */
  subject?: string
  /**
   * The person a trusted identity provider proved (token exchange with an ID token): rules decide
   * with their person conditions, the token's `sub` is the person and `act` the client. The
   * manifest's `task.requested_by` must already be the person's id.
   */
  person?: ProvenPerson
  /**
   * The token's `aud` (RFC 8707 resource indicators, already checked against the grants); absent
   * or empty: the grants' locations (`audienceFor`).
   */
  audience?: readonly string[]
}

/** RFC 6749 §5.1 token response, with RFC 9396's `authorization_details`. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
  authorization_details: Manifest['grants']
  /** writ extension: the grant id (the token's `jti`), for revocation and audit. */
  grant_id: string
}

/**
 * Turns an authenticated client's manifest into a recorded grant and a signed token.
 *
 * The order is the security argument: the policy decides first (default deny), the grant is
 * recorded in the store second (so it is revocable and counted against the client's quota), and
 * only then is a token signed. A store failure throws before any token exists.
 */
export function issueGrant(
  deps: IssueGrantDeps,
  req: IssueGrantRequest & ({ whenApprovalNeeded: 'refuse' } | { approved: GivenApproval }),
): Promise<TokenResponse>
export function issueGrant(deps: IssueGrantDeps, req: IssueGrantRequest): Promise<TokenResponse | ApprovalPending>
export async function issueGrant(
  deps: IssueGrantDeps,
  req: IssueGrantRequest,
): Promise<TokenResponse | ApprovalPending> {
  const progress = { decided: false }
  try {
    return await issue(deps, req, progress)
  } catch (err) {
    // Refusals by policy are audited here (a 503 is not a refusal); once a grant was decided, its
    // own events (`grant.issued`, `grant.voided`) tell what happened to it.
    // A lock's refusal comes from the store's write, after the decision: it is audited too.
    const locked = err instanceof LockRefusal
    if ((!progress.decided || locked) && err instanceof WritError && err.status < 500) {
      await deps.audit.note(tokenDeniedEvent(req.clientId, req.manifest, err))
    }
    throw err
  }
}

async function issue(
  deps: IssueGrantDeps,
  req: IssueGrantRequest,
  progress: { decided: boolean },
): Promise<TokenResponse | ApprovalPending> {
  const { keys, clock } = deps
  const policy = deps.policy()

  // Ensure type-specific grants are well formed before policy, a human or a token sees them.
  for (const validate of deps.validateDetails) validate(req.manifest.grants)

  // Ensure every grant is covered by a rule this client may use (throws access_denied otherwise).
  const decision = decide(policy, req.clientId, req.manifest, deps.tokens, req.person)

  // Ensure grants whose rule demands a DPoP-bound token are never issued as bearer tokens.
  if (decision.requireDpop && !req.cnfJkt) {
    const requirements = decision.approval?.requirements ?? []
    const rules = requirements.filter((r) => r.requireDpop).map((r) => r.ruleId)
    const grants = decision.grants
      .filter((g) => g.approval && rules.includes(g.ruleId))
      .map((g) => `grants[${g.index}] (rule ${g.ruleId})`)
    const verb = grants.length === 1 ? 'needs' : 'need'
    throw new WritError(
      'invalid_request',
      400,
      `DPoP header: required, because ${grants.join(', ')} ${verb} a DPoP-bound token ` +
        '(RFC 9449); send a DPoP proof',
    )
  }

  // Canonical once: the manifest hash and the grant.issued event both need it.
  const detailsJson = canonicalize(req.manifest.grants)
  const hash = manifestSha256(req.manifest, detailsJson)
  // Ensure nothing that needs a human is minted without one.
  if (decision.approval) {
    const { requirements } = decision.approval
    if (req.approved) {
      // Ensure the approval was given to this exact manifest, and still meets the policy.
      if (req.approved.approval.manifestSha256 !== hash || !req.approved.satisfies(requirements)) {
        throw accessDenied('the approval given no longer meets what the policy requires for this manifest')
      }
    } else if (deps.requestApproval && req.whenApprovalNeeded !== 'refuse') {
      return deps.requestApproval({
        clientId: req.clientId,
        manifest: req.manifest,
        decision,
        cnfJkt: req.cnfJkt,
        ...(req.person ? { person: req.person } : {}),
      })
    } else {
      const needs = decision.grants
        .filter((g) => g.approval)
        .map((g) => `grants[${g.index}] (rule ${g.ruleId}: ${g.approval!.approvers} approver(s) from ${g.approval!.from})`)
      throw accessDenied(
        `${needs.join(', ')} need${needs.length === 1 ? 's' : ''} human approval: ask with POST /oauth/bc-authorize (CIBA) or POST /v1/tokens, then collect the token once approved`,
      )
    }
  }

  const now = epochSeconds(clock)
  const decided: Grant = {
    id: randomId(),
    clientId: req.clientId,
    task: req.manifest.task,
    manifestSha256: hash,
    authorizationDetails: req.manifest.grants,
    ruleIds: decision.grants.map((g) => g.ruleId),
    ...(req.approved ? { approval: req.approved.approval } : {}),
    ...(req.cnfJkt ? { cnfJkt: req.cnfJkt } : {}),
    ...(req.subject !== undefined ? { subject: req.subject } : {}),
    ...(req.person ? { onBehalfOf: { subject: req.person.id, issuer: req.person.issuer } } : {}),
    issuedAt: now,
    expiresAt: now + decision.ttlSeconds,
  }
  // The token's claims are fixed before the grant is recorded, and the grant records their
  // digest: liveness accepts this token and no other one naming the grant's id.
  // A request made with OAuth scopes gets those names as its scope; otherwise type:action pairs.
  const scope = req.manifest.scopes ? req.manifest.scopes.join(' ') : scopeFor(decided.authorizationDetails)
  const payload = encodeAccessTokenPayload({
    issuer: deps.issuer,
    audience: req.audience?.length
      ? req.audience.length === 1
        ? req.audience[0]!
        : [...req.audience]
      : audienceFor(decided.authorizationDetails, deps.tokens.defaultAudience, req.manifest.resources),
    grant: decided,
    scope,
    ...(decided.approval ? { approval: approvalClaim(decided.approval) } : {}),
    clock,
  })
  const grant: Grant = { ...decided, claimsSha256: claimsSha256(payload) }

  // Ensure the grant is recorded (and within the client's live-grant quota), and its audit event
  // durable, before any token exists.
  progress.decided = true
  const client = policy.clients.get(req.clientId)
  // Ensure no locked client, task or approver gets a token: the store checks the locks in the
  // same atomic write that records the grant (no extra round trip, no gap between the two).
  const unlessLocked = lockTargetsOf({
    clientId: grant.clientId,
    taskId: grant.task.id,
    approvers: grant.approval?.approvers.map((a) => a.sub),
  })
  const createOptions = {
    unlessLocked,
    ...(client?.maxLiveGrants ? { maxLiveGrants: client.maxLiveGrants } : {}),
  }
  await recordGrant(deps, grant, detailsJson, createOptions)

  const mint = () => mintAccessToken({ key: keys.signingKey(), payload })
  const accessToken = await (deps.signing ? deps.signing(mint) : mint())
  return {
    access_token: accessToken,
    token_type: grant.cnfJkt ? 'DPoP' : 'Bearer',
    expires_in: grant.expiresAt - now,
    scope,
    authorization_details: grant.authorizationDetails,
    grant_id: grant.id,
  }
}

/** The token's `approval` claim: `{ id, manifest_sha256, approvers: [{ sub, aaguid, credential_id, at }] }`. */
function approvalClaim(approval: GrantApproval): Record<string, unknown> {
  return {
    id: approval.id,
    manifest_sha256: approval.manifestSha256,
    approvers: approval.approvers.map((a) => ({
      sub: a.sub,
      aaguid: a.aaguid,
      credential_id: a.credentialId,
      at: a.at,
    })),
  }
}
