import { loadPolicy } from './load-policy.js'
import { policyHash } from './policy-hash.js'
import { PolicyError, type Policy } from './types.js'

/** Checks a policy must pass on this broker besides its own validity (webhook secrets present). */
export type PolicyCheck = (policy: Policy) => string[]

/** A policy ready to take force: validated and checked, with its hash. */
export interface PreparedPolicy {
  policy: Policy
  hash: string
}

/**
 * Parses and validates a policy text as {@link loadPolicy} does, then runs `check` (what this
 * broker needs of a policy, such as the webhook secrets it names being set). Nothing is kept or
 * changed: the caller puts the result in force in one step.
 *
 * @throws PolicyError listing every problem, each naming its path.
 */
export function preparePolicy(text: string, options: { source?: string; check?: PolicyCheck } = {}): PreparedPolicy {
  const policy = loadPolicy(text, options.source === undefined ? {} : { source: options.source })
  const problems = options.check?.(policy) ?? []
  if (problems.length > 0) throw new PolicyError(problems, options.source)
  return { policy, hash: policyHash(text) }
}
