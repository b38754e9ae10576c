import { epochSeconds } from '../clock.js'
import type { TokenEndpointDpop } from '../dpop/token-endpoint-dpop.js'
import { WritError } from '../errors.js'
import type { ActClaim, Grant } from '../grants/grant.js'
import { inspectToken } from '../grants/inspect-token.js'
import type { IssueGrantDeps } from '../grants/issue-grant.js'
import { recordGrant } from '../grants/record-grant.js'
import { tokenDeniedEvent } from '../grants/token-denied-event.js'
import type { LockTarget } from '../locks/types.js'
import { lockTargetsOf } from '../locks/types.js'
import { canonicalize, manifestSha256 } from '../manifest/index.js'
import type { AuthorizationDetail, Manifest } from '../manifest/types.js'
import { randomId } from '../random-id.js'
import {
  encodeAccessTokenPayload,
  mintAccessToken,
  scopeFor,
} from '../tokens/index.js'
import { claimsSha256 } from '../wire/claims-digest.js'
import { coveredByParent } from './covered-by-parent.js'
import { delegatedAudience } from './delegated-audience.js'

/** RFC 8693 §3: the token type of a writ access token, as subject and as the issued token. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface ExchangeTokenDeps {
  issue: IssueGrantDeps
  dpop: Pick<TokenEndpointDpop, 'verify'>
}

export interface ExchangeTokenRequest {
  /** The authenticated caller: the client that receives the delegated token. */
  clientId: string
  /** The parent: a live writ access token. */
  subjectToken: string
  /** The grants asked for; each must be covered by a grant of the parent. */
  authorizationDetails: AuthorizationDetail[]
  /** Requested life in seconds; it may not outlast the parent. */
  ttlSeconds?: number
  /** The thumbprint of the request's own verified DPoP proof (binds the delegated token). */
  cnfJkt?: string
  /** `subject_token_dpop`: a DPoP proof by the parent's key, bound to the subject token. */
  subjectProof?: string
  /** Path of the token endpoint, the proofs' `htu`. */
  path: string
}

/** RFC 8693 §2.2.1 token response, with RFC 9396's `authorization_details` and writ's ids. */
export interface ExchangeTokenResponse {
  access_token: string
  issued_token_type: typeof ACCESS_TOKEN_TYPE
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
  authorization_details: AuthorizationDetail[]
  grant_id: string
  /** writ extension: the parent grant (the subject token's `jti`). */
  parent_grant_id: string
}

const refuse = (message: string): WritError => new WritError('invalid_request', 400, message)

/**
 * Token exchange for delegation (RFC 8693): a client the parent's client may delegate to turns a
 * live writ token (the parent) into a token of its own that holds no more than the parent: every
 * grant covered by one of the parent's, a life that ends no later, a chain no deeper than the
 * policy allows. No human is asked again: the parent's approval covers any subset of it.
 *
 * Order of checks: the parent is verified and live; a DPoP-bound parent's key is proven
 * (`subject_token_dpop`); the policy lets the parent's client delegate to the caller at this
 * depth; the grants are covered; then, as at issuance, the grant is recorded (under its parent,
 * which must still be live) before any token exists. Every refusal is a 4xx naming the field, and
 * nothing is recorded but its `token.denied` audit event.
 */
export async function exchangeToken(
  deps: ExchangeTokenDeps,
  req: ExchangeTokenRequest,
): Promise<ExchangeTokenResponse> {
  const progress: { manifest?: Manifest; recording: boolean } = { recording: false }
  try {
    return await exchange(deps, req, progress)
  } catch (err) {
    // Refusals are audited (once a grant is being recorded, its own events tell the story).
    if (err instanceof WritError && err.status < 500 && !progress.recording) {
      const manifest = progress.manifest ?? { task: { id: '(unknown)' }, grants: req.authorizationDetails }
      await deps.issue.audit.note(tokenDeniedEvent(req.clientId, manifest, err))
    }
    throw err
  }
}

async function exchange(
  deps: ExchangeTokenDeps,
  req: ExchangeTokenRequest,
  progress: { manifest?: Manifest; recording: boolean },
): Promise<ExchangeTokenResponse> {
  const { clock } = deps.issue
  const policy = deps.issue.policy()
  const now = epochSeconds(clock)

  // Ensure the parent is one of our tokens, unexpired, and its grant live (RFC 8693 §2.2.2: an
  // unacceptable subject token is invalid_request).
  const inspected = await inspectToken(deps.issue, req.subjectToken)
  if (!inspected.active) {
    if (inspected.endedAncestor !== undefined) {
      throw refuse(`subject_token: grant ${inspected.endedAncestor}, which it was delegated from, is not live`)
    }
    if (inspected.state?.state === 'revoked') {
      throw refuse(`subject_token: its grant ${inspected.state.revocation.grantId} was revoked`)
    }
    throw refuse('subject_token: not a live writ access token (expired, revoked, or not issued by this broker)')
  }
  const parent = inspected.state.grant
  progress.manifest = { task: parent.task, grants: req.authorizationDetails }

  // Ensure a DPoP-bound parent is exchanged only with a proof of its key, made for this request
  // and this subject token (`ath`), fresh and used once: a stolen bound token cannot be delegated.
  if (parent.cnfJkt !== undefined) {
    if (req.subjectProof === undefined) {
      throw refuse(
        'subject_token_dpop: required, because the subject token is DPoP-bound; send a DPoP proof ' +
          "made with its key for this request, with ath = the subject token's hash (RFC 9449 §4.2)",
      )
    }
    await deps.dpop.verify({
      header: req.subjectProof,
      method: 'POST',
      path: req.path,
      accessToken: req.subjectToken,
      expectedJkt: parent.cnfJkt,
    })
  }

  // Ensure the policy lets the parent's client hand its authority to this caller, at this depth.
  const delegator = policy.clients.get(parent.clientId)
  const delegateTo = delegator?.delegateTo
  if (!delegateTo || !delegateTo.clients.includes(req.clientId)) {
    throw new WritError(
      'unauthorized_client',
      400,
      `client ${req.clientId} may not receive tokens of client ${parent.clientId} ` +
        `(the policy's clients.${parent.clientId}.delegate_to does not list it)`,
    )
  }
  const depth = (parent.delegation?.depth ?? 0) + 1
  const maxDepth = Math.min(parent.delegation?.maxDepth ?? Infinity, delegateTo.maxDepth)
  if (depth > maxDepth) {
    throw refuse(
      `subject_token: a token delegated from it would be ${depth} hand-overs deep; the policy allows ${maxDepth}`,
    )
  }

  // Ensure nothing the parent lacks is reached: each grant covered by one of the parent's.
  const covering = coveredByParent(parent.authorizationDetails, req.authorizationDetails)
  const ruleIds = covering.map((p) => parent.ruleIds[p] ?? '')
  // Ensure the child is for no server the parent was not issued for (its RFC 8707 audience).
  const audience = delegatedAudience({
    policy,
    defaultAudience: deps.issue.tokens.defaultAudience,
    parentAud: inspected.claims.aud,
    parentDetails: parent.authorizationDetails,
    childDetails: req.authorizationDetails,
    ruleIds,
  })

  // Ensure grants whose rule demands a DPoP-bound token stay bound when delegated.
  const dpopRules = [...new Set(ruleIds)].filter((id) => policy.ruleById.get(id)?.approval?.requireDpop)
  if (dpopRules.length > 0 && req.cnfJkt === undefined) {
    throw refuse(
      `DPoP header: required, because rule ${dpopRules.join(', ')} needs a DPoP-bound token (RFC 9449); ` +
        "send a DPoP proof of the receiving client's key",
    )
  }

  // Ensure the child ends no later than its parent: a longer life asked for is refused, not cut.
  const remaining = parent.expiresAt - now
  if (req.ttlSeconds !== undefined && req.ttlSeconds > remaining) {
    throw refuse(`ttl: ${req.ttlSeconds} s is longer than the subject token's remaining life (${remaining} s)`)
  }
  let ttl = Math.min(req.ttlSeconds ?? deps.issue.tokens.defaultTtlSeconds, remaining, deps.issue.tokens.maxTtlSeconds)
  for (const id of ruleIds) ttl = Math.min(ttl, policy.ruleById.get(id)?.maxTtlSeconds ?? ttl)
  ttl = Math.floor(ttl)
  if (ttl < 1) throw refuse('subject_token: it expires within a second')

  const manifest: Manifest = { task: parent.task, ttlSeconds: ttl, grants: req.authorizationDetails }
  progress.manifest = manifest
  const detailsJson = canonicalize(manifest.grants)
  // Ensure the chain keeps the parent's subject (RFC 8693 §1.1): a person who authorized the root
  // client (authorization code flow) or for whom it acts (an ID token) stays the subject, never
  // replaced by a client's id. `act` names the hand-overs, the person's agent first.
  const parentSub = typeof inspected.claims.sub === 'string' ? inspected.claims.sub : parent.clientId
  const subject = parent.delegation?.subject ?? parent.onBehalfOf?.subject ?? parentSub
  const act: ActClaim = parent.delegation
    ? { sub: req.clientId, act: parent.delegation.act }
    : parent.onBehalfOf
      ? { sub: req.clientId, act: { sub: parent.clientId } }
      : { sub: req.clientId }
  // The chain above the child, root first: the parent's own chain, then the parent.
  const ancestors = [...(parent.delegation?.ancestors ?? []), { clientId: parent.clientId, grantId: parent.id }]
  const decided: Grant = {
    id: randomId(),
    clientId: req.clientId,
    task: parent.task,
    manifestSha256: manifestSha256(manifest, detailsJson),
    authorizationDetails: req.authorizationDetails,
    ruleIds,
    ...(req.cnfJkt !== undefined ? { cnfJkt: req.cnfJkt } : {}),
    delegation: {
      parentId: parent.id,
      parentClientId: parent.clientId,
      ancestors,
      depth,
      maxDepth: Number.isFinite(maxDepth) ? maxDepth : delegateTo.maxDepth,
      subject,
      act,
    },
    issuedAt: now,
    expiresAt: now + ttl,
  }
  const scope = scopeFor(decided.authorizationDetails)
  const payload = encodeAccessTokenPayload({
    issuer: deps.issue.issuer,
    audience,
    grant: decided,
    scope,
    clock,
  })
  const grant: Grant = { ...decided, claimsSha256: claimsSha256(payload) }

  // Ensure no locked receiver, task or approver of the parent gets a token, nor one derived from a
  // locked client anywhere up the chain: the parent's, each earlier actor's, and the root's (the
  // chain's subject when a client holds the root).
  const chainClients = new Set([parent.clientId])
  for (let actor = parent.delegation?.act; actor; actor = actor.act) chainClients.add(actor.sub)
  if (parent.delegation) chainClients.add(parent.delegation.parentClientId)
  if (parent.delegation) chainClients.add(parent.delegation.subject)
  const unlessLocked: LockTarget[] = [
    ...lockTargetsOf({
      clientId: grant.clientId,
      taskId: grant.task.id,
      approvers: parent.approval?.approvers.map((a) => a.sub),
    }),
    ...[...chainClients].map((id): LockTarget => ({ kind: 'client', id })),
  ]
  const receiver = policy.clients.get(req.clientId)
  progress.recording = true
  // Ensure the grant is recorded, under its parent (the store checks the parent and every grant
  // above it are still live), and its grant.issued event durable, before any token exists.
  await recordGrant(deps.issue, grant, detailsJson, {
    unlessLocked,
    parent: { clientId: parent.clientId, grantId: parent.id },
    ancestors,
    ...(receiver?.maxLiveGrants ? { maxLiveGrants: receiver.maxLiveGrants } : {}),
  })
  const accessToken = await mintAccessToken({ key: deps.issue.keys.signingKey(), payload })
  return {
    access_token: accessToken,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: grant.cnfJkt ? 'DPoP' : 'Bearer',
    expires_in: grant.expiresAt - now,
    scope,
    authorization_details: grant.authorizationDetails,
    grant_id: grant.id,
    parent_grant_id: parent.id,
  }
}
