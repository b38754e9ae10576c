import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import type { KeyManager } from '../tokens/index.js'
import { tokenClaimsSha256 } from '../wire/claims-digest.js'
import type { Grant, GrantState } from './grant.js'
import type { GrantRef, GrantStore } from './store.js'

export interface InspectTokenDeps {
  keys: KeyManager
  store: GrantStore
  issuer: string
  clock: Clock
}

export type InspectedToken =
  | { active: true; claims: JWTPayload & { client_id: string; jti: string }; state: GrantState & { state: 'live' } }
  | {
      active: false
      claims?: JWTPayload & { client_id: string; jti: string }
      state?: GrantState
      /**
       * True when the token is signed with one of our keys and names a live grant, but its
       * claims are not the ones issued for that grant: someone holds a signing key.
       */
      forged?: true
      /**
       * A delegated token whose own grant is live but one of the grants above it (`Grant.delegation
       * .ancestors`) is not: its id. The grant ended with it, whether or not the cascade has
       * reached its record yet.
       */
      endedAncestor?: string
    }

type LocalJwks = ReturnType<typeof createLocalJWKSet>
const jwksCache = new WeakMap<object, { fingerprint: string; resolver: LocalJwks }>()

function resolverFor(keys: KeyManager): LocalJwks {
  const jwks = keys.jwks()
  const fingerprint = jwks.keys.map((k) => k.kid).join(',')
  const cached = jwksCache.get(keys)
  if (cached && cached.fingerprint === fingerprint) return cached.resolver
  const resolver = createLocalJWKSet(jwks)
  jwksCache.set(keys, { fingerprint, resolver })
  return resolver
}

/**
 * Verifies one of this broker's own access tokens and looks its grant up in the store.
 * Anything that is not a valid, unexpired, live token of this issuer is inactive (RFC 7662 §2.2),
 * and so is a token whose claims are not the ones recorded for its grant (`Grant.claimsSha256`),
 * and a delegated token any of whose ancestor grants is not live.
 * Store failures propagate (the caller answers 503, never "active").
 */
export async function inspectToken(deps: InspectTokenDeps, token: string): Promise<InspectedToken> {
  let claims: JWTPayload
  try {
    // Ensure the token is ours: our keys, our issuer, an RFC 9068 access token, not expired.
    ;({ payload: claims } = await jwtVerify(token, resolverFor(deps.keys), {
      issuer: deps.issuer,
      typ: 'at+jwt',
      algorithms: ['ES256', 'EdDSA'],
      requiredClaims: ['exp', 'iat', 'jti', 'client_id'],
      currentDate: new Date(deps.clock()),
    }))
  } catch {
    return { active: false }
  }
  if (typeof claims.client_id !== 'string' || typeof claims.jti !== 'string') return { active: false }
  const typed = claims as JWTPayload & { client_id: string; jti: string }
  // Ensure the grant is still in the live set: the store is the allow-list.
  const state = await deps.store.getGrant(typed.client_id, typed.jti)
  if (state.state !== 'live') return { active: false, claims: typed, state }
  // Ensure the token is the one issued for the grant: its claims digest is the recorded one. A
  // token signed with a stolen key reusing a live grant's id (with wider details, another
  // audience, a later expiry, no `cnf`) differs. A record without a digest (written by a broker
  // before digests were recorded) is judged by its existence alone, as it was then.
  const recorded = state.grant.claimsSha256
  if (recorded !== undefined && recorded !== tokenClaimsSha256(token)) {
    return { active: false, claims: typed, state, forged: true }
  }
  // Ensure a delegated grant ends with any grant above it: revoking an ancestor revokes it at once,
  // before the cascade reaches its record.
  const ended = await endedAncestor(deps.store, state.grant)
  if (ended) return { active: false, claims: typed, state, endedAncestor: ended.grantId }
  return { active: true, claims: typed, state }
}

/**
 * The first grant above a delegated grant (`Grant.delegation.ancestors`, root first) that is not
 * live, or undefined when the whole chain is (always, for a grant that was not delegated). A
 * delegated grant is live only while its own record and every ancestor's are.
 */
export async function endedAncestor(store: Pick<GrantStore, 'getGrant'>, grant: Grant): Promise<GrantRef | undefined> {
  const ancestors = grant.delegation?.ancestors ?? []
  if (ancestors.length === 0) return undefined
  const states = await Promise.all(ancestors.map((a) => store.getGrant(a.clientId, a.grantId)))
  return ancestors.find((_, i) => states[i]!.state !== 'live')
}
