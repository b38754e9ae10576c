import { createRequestScopes, type RequestScopes } from '../request-scope.js'
import type { Policy } from './types.js'

/** A policy in force on this replica, and what identifies it. */
export interface PolicyInForce {
  policy: Policy
  /** Hex SHA-256 of the policy text (`policyHash`). */
  hash: string
  /** `file`: read from WRIT_POLICY; `store`: the policy stored in the shared store. */
  origin: 'file' | 'store'
  /** The stored policy's generation (`origin: store`): each apply is one more. */
  generation?: number
  /** When it took force on this replica (ms since the epoch). */
  since: number
}

/** A candidate this replica refused (it keeps the policy in force), for `/readyz` and logs. */
export interface RefusedPolicy {
  /** Hex SHA-256 of the refused text, when it could be read. */
  hash?: string
  generation?: number
  /** Every problem found, each naming its path. */
  problems: string[]
  /** When it was refused (ms since the epoch). */
  at: number
}

/**
 * The one holder of the policy in force. Every component reads the policy through it when it
 * needs it, never keeping a copy. A change is one reference assignment made after the whole new
 * policy was parsed, validated and checked, so no reader ever sees a half-loaded policy.
 *
 * A request sees one policy from start to end: `pin` (the HTTP app runs every request in it) fixes
 * the policy in force when the request began for everything that request does, across every
 * await, even when a change takes force meanwhile. Outside a pinned request, `current` is the
 * latest policy.
 */
export interface LivePolicy {
  /** The policy of the running request, or the latest outside one. */
  current(): Policy
  /** {@link current} with its hash and origin. */
  inForce(): PolicyInForce
  /** The policy in force now, whatever request runs. */
  latest(): PolicyInForce
  /** Puts `next` in force for requests that begin from now on; returns the one it replaces. */
  swap(next: PolicyInForce): PolicyInForce
  /** Runs `fn` with the policy in force now pinned for all it does (one request). */
  pin<T>(fn: () => T): T
  /** The last candidate refused since the last change, if any. */
  refused(): RefusedPolicy | undefined
  /** Records a refused candidate (the policy in force stays). */
  refuse(refusal: RefusedPolicy): void
}

/** `scopes`: where a request's pin is kept (the broker's one request scope; by default, its own). */
export function createLivePolicy(
  initial: PolicyInForce,
  scopes: RequestScopes<PolicyInForce> = createRequestScopes(),
): LivePolicy {
  let latest = initial
  let refusal: RefusedPolicy | undefined
  const inForce = (): PolicyInForce => scopes.current()?.policy ?? latest
  return {
    current: () => inForce().policy,
    inForce,
    latest: () => latest,
    swap(next) {
      const previous = latest
      // Ensure a change is one assignment of a finished policy: nothing sees it half-loaded.
      latest = next
      refusal = undefined
      return previous
    },
    pin(fn) {
      const scope = scopes.current()
      // The request's scope, opened by the tracing middleware, takes the pin; else one is opened.
      if (scope && scope.policy === undefined) {
        scope.policy = latest
        return fn()
      }
      return scopes.run({ ...scope, policy: latest }, fn)
    },
    refused: () => refusal,
    refuse(next) {
      refusal = next
    },
  }
}

/**
 * `derive` memoised per policy: what a component precomputes from a policy (a verifier with its
 * key caches, webhook targets) is built once per policy object, so it always matches the policy
 * it is used with and is dropped with it.
 */
export function perPolicy<T>(derive: (policy: Policy) => T): (policy: Policy) => T {
  const built = new WeakMap<Policy, T>()
  return (policy) => {
    let value = built.get(policy)
    if (value === undefined) {
      value = derive(policy)
      built.set(policy, value)
    }
    return value
  }
}
