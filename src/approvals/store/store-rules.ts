import { createHash } from 'node:crypto'
import { WritError } from '../../errors.js'
import type { ApprovalRequest, ApproverCredentialState } from '../types.js'

/*
 * Rules both approval store implementations apply identically, so the contract suite can hold
 * them to one behaviour.
 */

/** Thrown by `createRequest` when the id is already in use. */
export function approvalIdInUse(): WritError {
  return new WritError('server_error', 500, 'approval id collision', {
    detail: 'an approval request with this id already exists; approval ids must be unique',
  })
}

/** `createRequest`'s argument must be alive and well formed (a programming error otherwise). */
export function assertCreatableRequest(request: ApprovalRequest, nowMs: number): void {
  if (!Number.isSafeInteger(request.expiresAt) || request.expiresAt * 1000 <= nowMs) {
    throw new RangeError(`approval request ${request.id} has already expired`)
  }
  if (!Number.isSafeInteger(request.intervalSeconds) || request.intervalSeconds < 1) {
    throw new RangeError('intervalSeconds must be a positive integer')
  }
}

/** Retention periods are whole seconds, at least 1 (as Redis EX requires). */
export function assertRetentionSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new RangeError(`retentionSeconds must be a positive integer, got ${seconds}`)
  }
}

/** Signature counters are 32-bit unsigned integers (WebAuthn §6.1.1). */
export function assertCounter(counter: number): void {
  if (!Number.isSafeInteger(counter) || counter < 0 || counter > 0xffffffff) {
    throw new RangeError(`a signature counter is a 32-bit unsigned integer, got ${counter}`)
  }
}

/** Whether a new signature counter is a regression from the stored one (WebAuthn §7.2 step 22). */
export function counterRegressed(stored: number, next: number): boolean {
  return (next > 0 || stored > 0) && next <= stored
}

/** Enrolment order, then id, so both stores list keys alike. */
export function compareCredentials(a: ApproverCredentialState, b: ApproverCredentialState): number {
  return a.enrolledAt - b.enrolledAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** A deep copy through JSON, exactly what a Redis round trip produces. */
export const jsonCopy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/**
 * What makes two approval requests identical for coalescing: the same client, manifest hash, DPoP
 * key (or none), requirements and token life. Lowercase hex SHA-256.
 */
export function coalesceKey(request: ApprovalRequest): string {
  const { clientId, manifestSha256, cnfJkt, requirements, ttlSeconds } = request
  const parts = [clientId, manifestSha256, cnfJkt ?? '', requirements, ttlSeconds]
  return createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('hex')
}

/** `createRequest`'s bound on pending requests is a positive integer. */
export function assertMaxPending(maxPending: number): void {
  if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
    throw new RangeError(`maxPending must be a positive integer, got ${maxPending}`)
  }
}
