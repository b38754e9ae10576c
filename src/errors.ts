/**
 * Every failure writ reports to a caller is a WritError with a stable `code`. Callers switch on
 * `code`, never on `message`. Codes are the RFC 6749 / 6750 / 9396 / 9449 / CIBA error codes where
 * one exists, so OAuth clients understand them unchanged.
 */
export type WritErrorCode =
  // RFC 6749 §5.2
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  // RFC 6749 §4.1.2.1 / RFC 7009 / RFC 6750
  | 'access_denied'
  | 'unsupported_response_type'
  // RFC 8707 §2
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'invalid_token'
  | 'insufficient_scope'
  // RFC 9396 §5
  | 'invalid_authorization_details'
  // RFC 8707 §2
  | 'invalid_target'
  // RFC 9449 §12
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  // CIBA §11
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // writ
  | 'quota_exceeded'
  | 'not_found'
  | 'method_not_allowed'
  | 'temporarily_unavailable'
  | 'server_error'

export interface WritErrorOptions {
  cause?: unknown
  /** Logged with the request id, never sent to the caller. */
  detail?: string
  /** Seconds, for 429/503 answers. */
  retryAfterSeconds?: number
}

export class WritError extends Error {
  override readonly name = 'WritError'
  readonly detail: string | undefined
  readonly retryAfterSeconds: number | undefined

  constructor(
    readonly code: WritErrorCode,
    readonly status: number,
    /** Safe to show the caller. */
    message: string,
    options: WritErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.detail = options.detail
    this.retryAfterSeconds = options.retryAfterSeconds
  }

  /** Whether the message may be sent to the caller. 5xx messages are replaced by a generic one. */
  get expose(): boolean {
    return this.status < 500 || this.code === 'temporarily_unavailable'
  }
}

export const invalidRequest = (message: string, detail?: string): WritError =>
  new WritError('invalid_request', 400, message, detail === undefined ? {} : { detail })

export const accessDenied = (message: string): WritError =>
  new WritError('access_denied', 403, message)

/** The store (or another dependency writ cannot issue safely without) is unreachable. */
export const storeUnavailable = (cause: unknown): WritError =>
  new WritError('temporarily_unavailable', 503, 'the grant store is unavailable; retry shortly', {
    cause,
    detail: cause instanceof Error ? cause.message : String(cause),
    retryAfterSeconds: 2,
  })
