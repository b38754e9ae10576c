import type { RevocationTarget } from './revoke-grants.js'
import type { AuditActor, GrantRevokedEvent } from '../audit/types.js'

/** The `grant.revoked` event of a revocation: who, what it named, why, and how many it took out. */
export function grantRevokedEvent(
  actor: AuditActor,
  target: RevocationTarget,
  reason: string,
  count: number,
  known: { client?: string; task?: string } = {},
): GrantRevokedEvent {
  const base = { type: 'grant.revoked' as const, actor, reason, count }
  if ('grantId' in target) return { ...base, scope: 'grant', grant: target.grantId, ...known }
  if ('taskId' in target) return { ...base, scope: 'task', task: target.taskId }
  if ('clientId' in target) return { ...base, scope: 'client', client: target.clientId }
  if ('approver' in target) return { ...base, scope: 'approver', approver: target.approver }
  return { ...base, scope: 'all' }
}
