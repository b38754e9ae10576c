import { WritError } from '../errors.js'
import type { ApprovalRecord } from './types.js'

/** The one client-facing message for an assertion that is not accepted; the reason goes to `detail`. */
export const ASSERTION_REFUSED = 'the security key response was not accepted for this approval request'

/** An assertion (or its challenge) is not accepted. */
export const assertionRefused = (detail: string): WritError =>
  new WritError('access_denied', 403, ASSERTION_REFUSED, { detail })

/** No approval request with this id (or it is past its retention). */
export const approvalNotFound = (): WritError =>
  new WritError('not_found', 404, 'no such approval request (it may have expired)')

/** Where a request stands for a human, by the clock: expiry is decided, not stored. */
export function effectiveStatus(record: ApprovalRecord, nowMs: number): ApprovalRecord['status'] | 'expired' {
  if ((record.status === 'pending' || record.status === 'approved') && record.request.expiresAt * 1000 <= nowMs) {
    return 'expired'
  }
  return record.status
}

/** The request takes no more decisions. */
export const approvalClosed = (status: string): WritError =>
  new WritError('invalid_request', 409, `the approval request is ${status}; it takes no more decisions`)
