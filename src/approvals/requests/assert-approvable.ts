import { WritError } from '../../errors.js'
import type { ApprovalRequirement } from '../../policy/index.js'
import type { ApprovalDeps } from '../deps.js'
import { eligibleRequirements } from './eligible-requirements.js'

/**
 * Refuses, before anyone is asked or anything is stored, an approval request that the keys
 * enrolled now can never approve: for some rule, fewer people of its approver group hold a usable
 * (enrolled, not flagged) security key than the rule needs, counting neither the requester when
 * the rule forbids self-approval nor anyone the current policy no longer lists. Without this the
 * agent waits the whole approval timeout for a decision nobody can make.
 *
 * The check reads the keys enrolled at request time: a key enrolled a moment later does not
 * rescue a request refused here (the agent asks again), and a key disabled while a request waits
 * is caught when someone tries to approve with it, not here.
 *
 * @throws WritError `access_denied` (403) naming the rule, the group, how many approvers it needs
 *   and how many can approve, why (no key enrolled; strict attestation that accepts no key model
 *   yet) and what to do about it.
 */
export async function assertApprovable(
  deps: Pick<ApprovalDeps, 'store' | 'policy' | 'attestation'>,
  requirements: readonly ApprovalRequirement[],
  requestedBy: string | undefined,
): Promise<void> {
  if (requirements.length === 0) return
  const keysOf = new Map<string, Promise<boolean>>()
  const hasUsableKey = (sub: string): Promise<boolean> => {
    let found = keysOf.get(sub)
    if (!found) {
      found = deps.store.listCredentials({ sub }).then((keys) => keys.some((key) => key.flagged === undefined))
      keysOf.set(sub, found)
    }
    return found
  }
  for (const requirement of requirements) {
    const members = deps.policy().approverGroups.get(requirement.from)?.members ?? []
    const eligible = members.filter((sub) => eligibleRequirements(deps.policy(), [requirement], requestedBy, sub).length > 0)
    const able = new Set<string>()
    for (const [i, usable] of (await Promise.all(eligible.map(hasUsableKey))).entries()) {
      if (usable) able.add(eligible[i]!)
    }
    if (able.size >= requirement.approvers) continue
    const { attestation } = deps
    const cannotEnrol =
      attestation.mode === 'strict' &&
      (attestation.allowedAaguids.size === 0 ||
        (attestation.trust.roots.length === 0 && attestation.trust.metadata.size === 0))
    const why = cannotEnrol
      ? ' and this broker cannot enrol any key yet: its strict attestation needs ' +
        'approvals.attestation.allowedAaguids and a trust anchor (rootCertificateFiles or mdsBlobFile); ' +
        'for a local trial start the broker with `writ serve --dev` (WRIT_DEV=1)'
      : `; enrol one with \`writ approvers invite EMAIL --group ${requirement.from}\``
    const who = able.size === 1 ? '1 of its members holds' : `${able.size} of its members hold`
    throw new WritError(
      'access_denied',
      403,
      `nobody can approve this request: rule ${requirement.ruleId} needs ${requirement.approvers} ` +
        `approver(s) from group ${requirement.from}, and ${who} an enrolled security key that may ` +
        `approve it${requirement.forbidSelfApproval && requestedBy !== undefined ? ` (the requester ${requestedBy} may not)` : ''}${why}`,
    )
  }
}
