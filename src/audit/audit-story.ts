import type { AuditLog } from './audit-log.js'
import type { AuditEvent, GrantIssuedEvent, GrantRevokedEvent } from './types.js'

/** Grants of one task followed when telling its story. */
const MAX_GRANTS_PER_TASK = 1000

type Issued = GrantIssuedEvent & AuditEvent
type Revoked = GrantRevokedEvent & AuditEvent

/** Whether a task-wide or bulk revocation took out this grant: it was live then, and in scope. */
function covers(revocation: Revoked, grant: Issued): boolean {
  const afterIssue = revocation.seq > grant.seq
  if (!afterIssue || Date.parse(revocation.time) >= grant.expires_at * 1000) return false
  switch (revocation.scope) {
    case 'all':
      return true
    case 'client':
      return revocation.client === grant.client
    case 'approver':
      return (grant.approvers ?? []).some((a) => a.sub === revocation.approver)
    case 'task':
      return revocation.task === grant.task
    default:
      return false
  }
}

/** Grants of one delegation chain followed when telling a grant's story. */
const MAX_CHAIN_GRANTS = 1000

/**
 * A grant's story with its delegation chain (token exchange): the issuance and revocation of each
 * ancestor, up to the root, and the whole story of every grant delegated from it, at every depth.
 */
async function chainStory(log: AuditLog, grantId: string, bulk: Revoked[]): Promise<AuditEvent[]> {
  const events = await grantStory(log, grantId, bulk)
  const issuedOf = (list: AuditEvent[], id: string) =>
    list.find((e): e is Issued => e.type === 'grant.issued' && e.grant === id)
  // Up: each ancestor's issuance (who delegated what to whom), to the root, and its revocation,
  // which ended this grant too.
  const seen = new Set([grantId])
  for (let up = issuedOf(events, grantId)?.delegation?.parent; up && !seen.has(up) && seen.size < MAX_CHAIN_GRANTS; ) {
    seen.add(up)
    const found = await log.find({ grantId: up })
    const parent = issuedOf(found, up)
    if (!parent) break
    events.push(parent, ...found.filter((e) => e.type === 'grant.revoked' && e.grant === up))
    up = parent.delegation?.parent
  }
  // Down: the children's issuances are indexed under this grant too; follow each one's story.
  const queue = [grantId]
  for (let id = queue.shift(); id !== undefined && seen.size < MAX_CHAIN_GRANTS; id = queue.shift()) {
    const own = id === grantId ? events : await grantStory(log, id, bulk)
    if (id !== grantId) events.push(...own)
    for (const e of own) {
      if (e.type !== 'grant.issued' || e.delegation?.parent !== id || seen.has(e.grant)) continue
      seen.add(e.grant)
      queue.push(e.grant)
    }
  }
  return events
}

/** A grant's own events, its approval's, and the first wider revocation that took it out. */
async function grantStory(log: AuditLog, grantId: string, bulk: Revoked[]): Promise<AuditEvent[]> {
  const own = await log.find({ grantId })
  const issued = own.find((e): e is Issued => e.type === 'grant.issued' && e.grant === grantId)
  if (!issued) return own
  const parts: AuditEvent[] = [...own]
  if (issued.approval) parts.push(...(await log.find({ approvalId: issued.approval })))
  const ownRevocation = own.find((e) => e.type === 'grant.revoked')
  const taskWide = (await log.find({ taskId: issued.task })).filter(
    (e): e is Revoked => e.type === 'grant.revoked' && e.scope === 'task',
  )
  // Only the first revocation that took the grant out: later ones found it revoked already.
  const wider = [...taskWide, ...bulk]
    .filter((r) => covers(r, issued) && (!ownRevocation || r.seq < ownRevocation.seq))
    .sort((a, b) => a.seq - b.seq)[0]
  if (wider) parts.push(wider)
  return parts
}

/**
 * The story of one grant or one task, in log order: the request and the policy decision
 * (`grant.issued`, `token.denied`), the approval and each approver's key
 * (`approval.*`), credentials vended, and the revocation that ended it, including revocations of
 * its whole task, client or approver, or of everything. A grant's story also tells its delegation
 * chain: the issuance of each ancestor, and the stories of the grants delegated from it.
 *
 * @example
 * for (const e of await auditStory(log, { grantId })) console.log(e.time, e.type)
 */
export async function auditStory(
  log: AuditLog,
  query: { grantId: string } | { taskId: string },
): Promise<AuditEvent[]> {
  const bulk = (await log.find({ bulkRevocations: true })).filter(
    (e): e is Revoked => e.type === 'grant.revoked',
  )
  const events: AuditEvent[] = []
  if ('grantId' in query) {
    events.push(...(await chainStory(log, query.grantId, bulk)))
  } else {
    const own = await log.find({ taskId: query.taskId })
    events.push(...own)
    const grants = [...new Set(own.flatMap((e) => (e.type === 'grant.issued' ? [e.grant] : [])))]
    for (const grantId of grants.slice(0, MAX_GRANTS_PER_TASK)) {
      events.push(...(await grantStory(log, grantId, bulk)))
    }
    const approvalOf = (e: AuditEvent): string[] =>
      'approval' in e && typeof e.approval === 'string' ? [e.approval] : []
    const approvals = [...new Set(own.flatMap(approvalOf))]
    for (const approvalId of approvals.slice(0, MAX_GRANTS_PER_TASK)) {
      events.push(...(await log.find({ approvalId })))
    }
  }
  const bySeq = new Map(events.map((e) => [e.seq, e]))
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}
