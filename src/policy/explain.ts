import type { Manifest } from '../manifest/types.js'
import type { ApprovalRequirement } from './decide.js'
import { describeGrant } from './describe-grant.js'
import { matchRule } from './match-rule.js'
import { personMeets } from './person-meets.js'
import type { Policy, ProvenPerson } from './types.js'

/** Why one rule does not decide a grant. */
export interface RuleRejection {
  ruleId: string
  /** `type repo is not deploy`, `action write not in [read]`, `client x may not use this rule`. */
  reason: string
}

export interface GrantExplanation {
  index: number
  /** One-line summary: `repo write on https://git.example.com/acme/app docs/**`. */
  grant: string
  /** The first rule (in file order) that decides the grant, or null: denied. */
  rule: {
    id: string
    description?: string
    maxTtlSeconds: number
    /** null: no human approval needed. */
    approval: ApprovalRequirement | null
    requireDpop: boolean
  } | null
  /** Every rule tried before the deciding one (all, when none decides) and why it did not match. */
  rejected: RuleRejection[]
}

export interface Explanation {
  /** The client the manifest was explained for; undefined: any client (rule lists ignored). */
  clientId?: string
  /** False when a client id was given but the policy does not register it. */
  clientKnown: boolean
  /** Every grant is covered: the request would be granted (possibly after approval). */
  allowed: boolean
  grants: GrantExplanation[]
  /** The lowest max TTL among the deciding rules (global limits apply on top); null if denied. */
  maxTtlSeconds: number | null
  /** Approval needed, one requirement per deciding rule that needs it. */
  approvals: ApprovalRequirement[]
  requireDpop: boolean
}

/**
 * Explains how the policy treats a manifest: per grant, the rule that decides it and what that
 * rule needs (approval none or N of a group, max TTL, DPoP), and for every rule tried before it
 * (or every rule, when none matches) why it did not match. Rules the client may not use are
 * reported as such. With no client id, client rule lists are ignored, to show which rule would
 * match at all. Never throws for a denial; backs `writ policy explain`.
 */
export function explain(
  policy: Policy,
  clientId: string | undefined,
  manifest: Manifest,
  person?: ProvenPerson,
): Explanation {
  const client = clientId === undefined ? undefined : policy.clients.get(clientId)
  const mayUse = (ruleId: string): boolean =>
    clientId === undefined || (client !== undefined && client.rules.includes(ruleId))

  const approvals = new Map<string, ApprovalRequirement>()
  let maxTtlSeconds = Number.POSITIVE_INFINITY
  const grants = manifest.grants.map((grant, index): GrantExplanation => {
    const rejected: RuleRejection[] = []
    for (const rule of policy.rules) {
      const result = matchRule(rule, grant)
      if (!mayUse(rule.id)) {
        const who = client
          ? `client ${clientId} may not use this rule`
          : `client ${clientId} is not in the policy`
        const reason = result.matched
          ? `${who} (it would match otherwise)`
          : `${who}; also ${result.reason}`
        rejected.push({ ruleId: rule.id, reason })
        continue
      }
      if (!result.matched) {
        rejected.push({ ruleId: rule.id, reason: result.reason })
        continue
      }
      // As decide does: a rule with person conditions serves only a proven person who meets them.
      if (!personMeets(rule, person)) {
        const reason = person
          ? `the person ${person.id} does not meet the rule's person conditions`
          : 'the rule matches only requests made for a proven person (person:, token exchange with an ID token)'
        rejected.push({ ruleId: rule.id, reason })
        continue
      }
      const approval = rule.approval ? { ruleId: rule.id, ...rule.approval } : null
      if (approval && !approvals.has(rule.id)) approvals.set(rule.id, approval)
      maxTtlSeconds = Math.min(maxTtlSeconds, rule.maxTtlSeconds)
      const decided: NonNullable<GrantExplanation['rule']> = {
        id: rule.id,
        maxTtlSeconds: rule.maxTtlSeconds,
        approval,
        requireDpop: approval?.requireDpop ?? false,
      }
      if (rule.description !== undefined) decided.description = rule.description
      return { index, grant: describeGrant(grant), rule: decided, rejected }
    }
    return { index, grant: describeGrant(grant), rule: null, rejected }
  })

  const allowed = grants.length > 0 && grants.every((g) => g.rule !== null)
  const needed = [...approvals.values()]
  const explanation: Explanation = {
    clientKnown: clientId === undefined || client !== undefined,
    allowed,
    grants,
    maxTtlSeconds: allowed ? maxTtlSeconds : null,
    approvals: needed,
    requireDpop: needed.some((r) => r.requireDpop),
  }
  if (clientId !== undefined) explanation.clientId = clientId
  return explanation
}
