import { WritError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import { describeGrant } from './describe-grant.js'
import { clientRuleIndex } from './rule-index.js'
import { patternCovers } from '../wire/glob.js'
import { personMeets } from './person-meets.js'
import type { Policy, ProvenPerson } from './types.js'

/** What one rule's human approval needs. */
export interface ApprovalRequirement {
  ruleId: string
  /** Distinct approvers (each with their own key) needed. */
  approvers: number
  /** Approver group id. */
  from: string
  requireDpop: boolean
  /** The task's `requested_by` may not be one of the approvers. */
  forbidSelfApproval: boolean
}

export interface GrantDecision {
  /** Index of the grant in the manifest. */
  index: number
  /** The first rule, in file order, that covers the grant. */
  ruleId: string
  /** null: the rule needs no human. */
  approval: ApprovalRequirement | null
}

/** The policy's answer for a manifest every grant of which is allowed. */
export interface Decision {
  clientId: string
  /** min(requested ?? default, every matched rule's max TTL, the global max). */
  ttlSeconds: number
  grants: GrantDecision[]
  /** null: mint now. Otherwise every requirement must be met first (one per rule, in order). */
  approval: { requirements: ApprovalRequirement[] } | null
  /** The token must be DPoP-bound: some requirement says so. */
  requireDpop: boolean
}

export interface DecideLimits {
  /** Upper bound on any token's life, whatever the manifest or the policy say. */
  maxTtlSeconds: number
  /** Life of a token whose manifest names no TTL (still capped by rules and max). */
  defaultTtlSeconds: number
}

/**
 * Decides a manifest for a client (acting for `person`, when a trusted issuer proved one: rules
 * with `person` conditions match only then). Each grant is matched against the rules the client may use,
 * in file order; the first rule that covers it wins. Default deny: a client the policy does not
 * know, or any grant no usable rule covers, is refused.
 *
 * Each of the manifest's `resources` (RFC 8707) must be covered by a grant's locations or by the
 * `resources` of a rule that matched one of its grants.
 *
 * @throws WritError `invalid_target` (400) naming a resource nothing covers;
 *   `access_denied` (403) naming the first denied grant and listing the others:
 *   `grants[1] (repo write on https://git.example.com/acme/app docs/**) is not allowed for client
 *   demo-agent by any rule it may use`.
 */
export function decide(
  policy: Policy,
  clientId: string,
  manifest: Manifest,
  limits: DecideLimits,
  person?: ProvenPerson,
): Decision {
  const client = policy.clients.get(clientId)
  // Ensure only clients the policy names get anything.
  if (!client) {
    throw new WritError('access_denied', 403, `client ${clientId} is not allowed by the policy`)
  }
  const rules = clientRuleIndex(policy, clientId)

  const grants: GrantDecision[] = []
  const denied: number[] = []
  const requirements = new Map<string, ApprovalRequirement>()
  let ttlSeconds = Math.min(manifest.ttlSeconds ?? limits.defaultTtlSeconds, limits.maxTtlSeconds)

  manifest.grants.forEach((grant, index) => {
    // Ensure every grant is covered by a rule this client may use; first match in file order wins
    // (the index finds the same rule a scan in file order would, without trying every rule).
    // A rule with person conditions serves only a proven person who meets them (personMeets).
    const rule = rules.firstMatch(grant, (r) => personMeets(r, person))
    if (!rule) {
      denied.push(index)
      return
    }
    let approval: ApprovalRequirement | null = null
    if (rule.approval) {
      approval = requirements.get(rule.id) ?? { ruleId: rule.id, ...rule.approval }
      requirements.set(rule.id, approval)
    }
    // Ensure the token lives no longer than the strictest rule involved allows.
    ttlSeconds = Math.min(ttlSeconds, rule.maxTtlSeconds)
    grants.push({ index, ruleId: rule.id, approval })
  })

  const [first, ...others] = denied
  if (first !== undefined) {
    const grant = manifest.grants[first]!
    const also =
      others.length > 0 ? `; also denied: ${others.map((i) => `grants[${i}]`).join(', ')}` : ''
    throw new WritError(
      'access_denied',
      403,
      `grants[${first}] (${describeGrant(grant)}) is not allowed for client ${clientId} ` +
        `${person ? `acting for ${person.id} ` : ''}by any rule it may use${also}`,
    )
  }
  // Ensure an empty manifest (which the manifest schema already refuses) is never a blank cheque.
  if (grants.length === 0) {
    throw new WritError('access_denied', 403, 'the manifest asks for no grants')
  }

  // Ensure every requested audience is a server the grants reach, or one their rules name.
  for (const [i, resource] of (manifest.resources ?? []).entries()) {
    const byGrant = manifest.grants.some((grant) =>
      (grant.locations ?? []).some((location) => patternCovers(location, resource)),
    )
    const byRule = grants.some((g) =>
      (policy.ruleById.get(g.ruleId)?.resources ?? []).some((pattern) => patternCovers(pattern, resource)),
    )
    if (!byGrant && !byRule) {
      const at = manifest.resources!.length > 1 ? `resource[${i}]` : 'resource'
      throw new WritError(
        'invalid_target',
        400,
        `${at}: ${resource} is not a location of any requested grant, nor a resource their rules name (RFC 8707)`,
      )
    }
  }

  const needed = [...requirements.values()]
  return {
    clientId,
    ttlSeconds: Math.max(1, Math.floor(ttlSeconds)),
    grants,
    approval: needed.length > 0 ? { requirements: needed } : null,
    requireDpop: needed.some((r) => r.requireDpop),
  }
}
