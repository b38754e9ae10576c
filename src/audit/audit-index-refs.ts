import type { AuditEvent } from './types.js'

/**
 * What an audit query can name. Each event is indexed under the grant, task, approval and approver
 * it concerns; revocations of a whole client, approver or everything are also listed together
 * (`bulkRevocations`), and so are exports (`exports`) and key rotations (`keyRotations`), so a
 * grant's story, the trim rule and an export's key history can find them without reading the whole
 * log.
 */
export type AuditQuery =
  | { grantId: string }
  | { taskId: string }
  | { approvalId: string }
  | { approver: string }
  | { bulkRevocations: true }
  | { exports: true }
  /** Every `key.rotated` event: the key history a page from the middle of the log needs. */
  | { keyRotations: true }

/** The index reference of a query: `g:<grant>`, `t:<task>`, `a:<approval>`, `p:<approver>`, ... */
export function queryRef(query: AuditQuery): string {
  if ('grantId' in query) return `g:${query.grantId}`
  if ('taskId' in query) return `t:${query.taskId}`
  if ('approvalId' in query) return `a:${query.approvalId}`
  if ('approver' in query) return `p:${query.approver}`
  if ('bulkRevocations' in query) return 'r:bulk'
  if ('keyRotations' in query) return 'k:rotations'
  return 'x:exports'
}

/** Every index reference an event is listed under (see {@link AuditQuery}), without repeats. */
export function auditIndexRefs(event: AuditEvent): string[] {
  const refs = new Set<string>()
  const e = event as AuditEvent & Record<string, unknown>
  if (typeof e.grant === 'string') refs.add(`g:${e.grant}`)
  if (typeof e.task === 'string') refs.add(`t:${e.task}`)
  if (typeof e.approval === 'string') refs.add(`a:${e.approval}`)
  if (typeof e.approver === 'string') refs.add(`p:${e.approver}`)
  if (event.type === 'grant.issued') for (const a of event.approvers ?? []) refs.add(`p:${a.sub}`)
  // A delegated grant's issuance belongs to its parent's story too.
  if (event.type === 'grant.issued' && event.delegation) refs.add(`g:${event.delegation.parent}`)
  // A grant for a proven person belongs to that person's story.
  if (event.type === 'grant.issued' && event.on_behalf_of) refs.add(`p:${event.on_behalf_of.sub}`)
  if (event.type === 'grant.revoked' && event.scope !== 'grant' && event.scope !== 'task') {
    refs.add('r:bulk')
  }
  if (event.type === 'audit.exported') refs.add('x:exports')
  if (event.type === 'key.rotated') refs.add('k:rotations')
  return [...refs]
}
