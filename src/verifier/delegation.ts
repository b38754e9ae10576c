import type { AccessTokenClaims, ActorClaim } from './types.js'
import { VerifierError } from './verifier-error.js'

/** Deepest `act` nesting a token may carry; far beyond any policy's delegation depth. */
export const MAX_ACT_DEPTH = 32

/**
 * What a service accepts of delegated tokens (token exchange, RFC 8693): tokens with an `act`
 * claim, issued to a sub-agent from a parent token.
 *
 * @example
 * ```ts
 * const delegation: DelegationOptions = { maxDepth: 1 } // direct tokens and one hand-over
 * ```
 */
export interface DelegationOptions {
  /** Accept delegated tokens at all. Default true. */
  allow?: boolean
  /** The deepest chain accepted (1: a child of a directly issued token). Default: any. */
  maxDepth?: number
}

/**
 * The actors of a token, current first (RFC 8693 §4.1: the outermost `act` is the current
 * actor, nested ones came before it). Empty for a token that was not delegated.
 *
 * @example
 * ```ts
 * actorChain(claims) // ['sub-agent', 'worker'] for act: { sub: 'sub-agent', act: { sub: 'worker' } }
 * ```
 */
export function actorChain(claims: Pick<AccessTokenClaims, 'act'>): string[] {
  const chain: string[] = []
  for (let act: ActorClaim | undefined = claims.act; act; act = act.act) chain.push(act.sub)
  return chain
}

/**
 * How many hand-overs a token is from a directly issued one: the depth of its `act` nesting (0
 * when it has none).
 *
 * @example
 * ```ts
 * if (delegationDepth(claims) > 0) log.info('delegated', { actors: actorChain(claims) })
 * ```
 */
export function delegationDepth(claims: Pick<AccessTokenClaims, 'act'>): number {
  return actorChain(claims).length
}

/**
 * Checks an `act` claim's shape: objects with a non-empty string `sub`, nested at most
 * {@link MAX_ACT_DEPTH} deep, and nothing but `sub` and `act` inside.
 *
 * @throws VerifierError `invalid_token`.
 */
export function checkActClaim(act: unknown): void {
  let level = act
  for (let depth = 1; level !== undefined; depth++) {
    if (depth > MAX_ACT_DEPTH) throw new VerifierError('invalid_token', 'the token\'s act claim is nested too deep')
    if (level === null || typeof level !== 'object' || Array.isArray(level)) {
      throw new VerifierError('invalid_token', 'the token\'s act claim must be an object')
    }
    const { sub, act: inner, ...rest } = level as Record<string, unknown>
    if (typeof sub !== 'string' || sub === '' || Object.keys(rest).length > 0) {
      throw new VerifierError('invalid_token', 'the token\'s act claim must be {"sub": actor, "act"?: {...}}')
    }
    level = inner
  }
}

/**
 * Checks a delegated token's `ancestor_grants` against its `parent_grant`: at most
 * {@link MAX_ACT_DEPTH} entries `{client_id, grant_id}` of non-empty strings, root first, the last
 * one the parent. A token with a parent and no `ancestor_grants` (from a broker before the claim)
 * is judged by its own grant alone.
 *
 * @throws VerifierError `invalid_token`.
 */
export function checkAncestorGrants(ancestors: unknown, parentGrant: string | undefined): void {
  if (ancestors === undefined) return
  const shape = 'the token\'s ancestor_grants claim must be a list of {"client_id", "grant_id"} ending with its parent_grant'
  if (!Array.isArray(ancestors) || ancestors.length === 0 || ancestors.length > MAX_ACT_DEPTH) {
    throw new VerifierError('invalid_token', shape)
  }
  for (const entry of ancestors) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new VerifierError('invalid_token', shape)
    const { client_id: clientId, grant_id: grantId, ...rest } = entry as Record<string, unknown>
    if (typeof clientId !== 'string' || clientId === '' || typeof grantId !== 'string' || grantId === '') {
      throw new VerifierError('invalid_token', shape)
    }
    if (Object.keys(rest).length > 0) throw new VerifierError('invalid_token', shape)
  }
  // Ensure the chain a verifier checks is the one the token was delegated along.
  if (parentGrant === undefined || (ancestors.at(-1) as { grant_id: string }).grant_id !== parentGrant) {
    throw new VerifierError('invalid_token', shape)
  }
}

/**
 * Enforces a service's {@link DelegationOptions} on verified claims.
 *
 * @throws VerifierError `invalid_token` naming why the token is not accepted here.
 */
export function checkDelegation(claims: AccessTokenClaims, options: DelegationOptions | undefined): void {
  if (!options) return
  const depth = delegationDepth(claims)
  if (depth === 0) return
  // Ensure a service that takes no delegated tokens never acts on one.
  if (options.allow === false) {
    throw new VerifierError('invalid_token', 'this service does not accept delegated tokens (act)')
  }
  // Ensure a chain longer than the service allows is refused, whatever the broker allowed.
  if (options.maxDepth !== undefined && depth > options.maxDepth) {
    throw new VerifierError(
      'invalid_token',
      `the token was delegated ${depth} times; this service accepts at most ${options.maxDepth}`,
    )
  }
}
