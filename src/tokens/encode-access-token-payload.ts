import { type Clock, epochSeconds } from '../clock.js'
import { WritError } from '../errors.js'
import type { AuthorizationDetail, TaskInfo } from '../manifest/types.js'

/** What a token says of its grant (a grant record is one): the claims are drawn from it. */
export interface TokenGrant {
  id: string
  clientId: string
  task: TaskInfo
  authorizationDetails: AuthorizationDetail[]
  cnfJkt?: string | undefined
  /** The person who authorized the client (authorization code flow): the token's `sub`. */
  subject?: string | undefined
  /**
   * Where a delegated grant comes from (token exchange): the chain's subject (`sub`), the actors
   * (`act`, RFC 8693 §4.1, nested as `{sub, act?}`) and the parent grant's id (`parent_grant`).
   */
  delegation?:
    | {
        subject: string
        act: unknown
        parentId: string
        /** Every grant above it, root first, the parent last: the token's `ancestor_grants`. */
        ancestors: ReadonlyArray<{ clientId: string; grantId: string }>
      }
    | undefined
  /**
   * A grant for a person a trusted issuer proved: `sub` is the person, `act` the client
   * (RFC 8693 §4.1).
   */
  onBehalfOf?: { subject: string } | undefined
  /** Seconds since the epoch. */
  issuedAt: number
  expiresAt: number
}

export interface AccessTokenPayloadOptions {
  issuer: string
  /** From `audienceFor()`. */
  audience: string | string[]
  /** The grant the token carries: `jti`, `iat`, `exp`, client, task and details. */
  grant: TokenGrant
  /** From `scopeFor()`. */
  scope: string
  /** The `approval` claim `{ id, manifest_sha256, approvers }` when a human approved. */
  approval?: unknown
  /** When given, a grant that has already expired by this clock is refused. */
  clock?: Clock
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * The JWS payload segment (base64url of the claims' JSON) of an RFC 9068 access token for a
 * grant: claims `iss sub aud exp iat jti client_id scope authorization_details task`, plus
 * `cnf.jkt` when the grant is DPoP-bound, `approval` when given, and `act`, `parent_grant` and
 * `ancestor_grants` when the grant was delegated. `sub` is the chain's subject for a delegated grant (`client_id` is then
 * the holder), the person for a grant a person authorized (`subject`), else the client. Computed before the grant is
 * recorded, so the grant can record its digest (`claimsSha256`); `mintAccessToken` signs it.
 *
 * @throws Error when the grant's times are not whole seconds or its life is empty, or the audience
 *   is empty; WritError `invalid_grant` (400) when the grant has expired by `clock`.
 */
export function encodeAccessTokenPayload(options: AccessTokenPayloadOptions): string {
  const { grant } = options
  // Ensure the token's life is a real interval.
  if (!Number.isInteger(grant.issuedAt) || !Number.isInteger(grant.expiresAt)) {
    throw new Error('grant times must be whole seconds since the epoch')
  }
  if (grant.expiresAt <= grant.issuedAt) throw new Error('grant expires before it is issued')
  // Ensure no token is minted for a grant that is already over.
  if (options.clock && grant.expiresAt <= epochSeconds(options.clock)) {
    throw new WritError('invalid_grant', 400, 'the grant has expired')
  }
  // Ensure the token names an audience (RFC 9068 §2.2 requires aud).
  const audience = options.audience
  if (Array.isArray(audience) ? audience.length === 0 : audience === '') {
    throw new Error('an access token needs an audience')
  }

  const task: Record<string, string> = { id: grant.task.id }
  if (grant.task.purpose !== undefined) task.purpose = grant.task.purpose
  if (grant.task.requested_by !== undefined) task.requested_by = grant.task.requested_by

  const claims: Record<string, unknown> = {
    iss: options.issuer,
    // RFC 8693 §1.1: a delegated token keeps the chain's subject (`act` names who acts for it); a
    // person who authorized the client is the subject; otherwise the client acts for itself.
    sub: grant.delegation?.subject ?? grant.onBehalfOf?.subject ?? grant.subject ?? grant.clientId,
    aud: audience,
    exp: grant.expiresAt,
    iat: grant.issuedAt,
    jti: grant.id,
    client_id: grant.clientId,
    scope: options.scope,
    authorization_details: grant.authorizationDetails,
    task,
  }
  if (grant.cnfJkt !== undefined) claims.cnf = { jkt: grant.cnfJkt }
  if (options.approval !== undefined) claims.approval = options.approval
  if (grant.delegation) {
    // RFC 8693 §4.1: the current actor outermost, earlier actors nested; and the parent grant.
    claims.act = grant.delegation.act
    claims.parent_grant = grant.delegation.parentId
    // The whole chain, so a verifier can end this token with any grant above it (writ's claim).
    claims.ancestor_grants = grant.delegation.ancestors.map((a) => ({ client_id: a.clientId, grant_id: a.grantId }))
  } else if (grant.onBehalfOf) {
    // RFC 8693 §4.1: the client acts for the person the identity provider proved.
    claims.act = { sub: grant.clientId }
  }
  return encode(claims)
}
