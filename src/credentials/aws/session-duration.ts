import { AWS_LIMITS } from './check-assume-role-limits.js'

export interface SessionDurationInput {
  /** Seconds the grant has left. */
  remainingSeconds: number
  /** What the caller asked for (`duration_seconds`), if anything. */
  requestedSeconds?: number
  /** The role's MaxSessionDuration. */
  roleMaxSeconds: number
  /** The broker runs on role credentials itself: AWS caps chained sessions at one hour. */
  roleChaining: boolean
}

/**
 * `DurationSeconds` for AssumeRole: the grant's remaining life (or less, when the caller asks for
 * less), raised to AWS's 900-second minimum, capped by the role's maximum and, when the broker
 * itself runs on a role, by the one-hour role-chaining cap. Raising to 900 s can make a session
 * outlive its grant; the session policy's `aws:CurrentTime` bound takes every permission away at
 * the grant's expiry (see compileSessionPolicy).
 */
export function sessionDurationSeconds(input: SessionDurationInput): number {
  let seconds = Math.floor(Math.min(input.remainingSeconds, input.requestedSeconds ?? Infinity))
  seconds = Math.max(seconds, AWS_LIMITS.minDurationSeconds)
  seconds = Math.min(seconds, input.roleMaxSeconds, AWS_LIMITS.maxDurationSeconds)
  if (input.roleChaining) seconds = Math.min(seconds, AWS_LIMITS.chainedMaxDurationSeconds)
  return seconds
}
