import { isoSeconds, type AuditEventLines, type AuditEventOf } from '../audit/audit-event-lines.js'

const refused = (event: AuditEventOf<'approval.denied' | 'approval.rejected'>): string =>
  [
    `approval ${event.approval} `,
    event.type === 'approval.denied' ? 'denied' : 'assertion rejected',
    event.approver ? ` by ${event.approver}` : '',
    event.credential_id ? ` (key ${event.credential_id}, AAGUID ${event.aaguid ?? '-'})` : '',
    event.reason ? `: ${event.reason}` : '',
  ].join('')

const keyEvent = (event: AuditEventOf<'approver.key_flagged' | 'approver.key_removed'>): string =>
  [
    `key ${event.credential_id ?? '-'} of ${event.approver} `,
    event.type === 'approver.key_flagged' ? 'flagged' : `removed by ${event.actor}`,
    event.reason ? `: ${event.reason}` : '',
  ].join('')

/** How `writ audit` describes the events of approvals and approvers' keys. */
export const approvalEventLines: AuditEventLines<
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.denied'
  | 'approval.rejected'
  | 'approval.expired'
  | 'approval.revoked'
  | 'approver.invited'
  | 'approver.enrolled'
  | 'approver.key_flagged'
  | 'approver.key_removed'
  | 'approver.signed_in'
  | 'approver.sign_in_refused'
> = {
  'approval.requested': (event) =>
    [
      `approval ${event.approval} requested by ${event.client} for task ${event.task}`,
      `; manifest ${event.manifest_sha256.slice(0, 16)}…; rules ${event.rules.join(', ')}`,
      `; expires ${isoSeconds(event.expires_at)}`,
    ].join(''),
  'approval.approved': (event) =>
    [
      `approval ${event.approval} approved by ${event.approver} `,
      `(key ${event.credential_id}, AAGUID ${event.aaguid})`,
      event.complete ? ': complete' : ': more approvals needed',
    ].join(''),
  'approval.denied': refused,
  'approval.rejected': refused,
  'approval.expired': (event) =>
    `approval ${event.approval} for ${event.client ?? '-'}, task ${event.task ?? '-'}, expired undecided`,
  'approval.revoked': (event) =>
    [
      `approval ${event.approval} for ${event.client}, task ${event.task}, `,
      `revoked by ${event.actor}: ${event.reason}`,
    ].join(''),
  'approver.invited': (event) =>
    `enrolment invite for ${event.approver} issued by ${event.actor}${
      typeof event.detail?.group === 'string' ? ` (group ${event.detail.group})` : ''
    }`,
  'approver.enrolled': (event) => {
    const thumbprint = (event as unknown as Record<string, unknown>).public_key_thumbprint
    return [
      `${event.approver} enrolled key ${event.credential_id} (AAGUID ${event.aaguid}`,
      // Events written before keys were recorded in the chain carry no thumbprint.
      typeof thumbprint === 'string' ? `, public key ${thumbprint})` : ')',
    ].join('')
  },
  'approver.key_flagged': keyEvent,
  'approver.key_removed': keyEvent,
  'approver.signed_in': (event) =>
    [
      `${event.approver} signed in to the approver inbox with key ${event.credential_id}`,
      typeof event.detail?.expires_at === 'number' ? ` until ${isoSeconds(event.detail.expires_at)}` : '',
    ].join(''),
  'approver.sign_in_refused': (event) =>
    `inbox sign-in by ${event.approver} with key ${event.credential_id} refused${event.reason ? `: ${event.reason}` : ''}`,
}
