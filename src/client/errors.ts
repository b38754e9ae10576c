/** Stable codes an agent runtime can switch on. OAuth error codes pass through unchanged. */
export type WritClientErrorCode =
  | 'access_denied'
  | 'expired_token'
  | 'invalid_client'
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_dpop_proof'
  | 'temporarily_unavailable'
  | 'aborted'
  | 'network_error'
  | 'unexpected_response'
  | (string & {})

/**
 * A failed token request. `code` is the broker's RFC 6749 error code (`access_denied` when an
 * approver denied, `expired_token` when the approval window closed) or one of the client's own
 * (`aborted`, `network_error`, `unexpected_response`).
 *
 * @example
 * try { await requestToken(options) } catch (err) {
 *   if (err instanceof WritClientError && err.code === 'access_denied') stopTheTask(err.message)
 * }
 */
export class WritClientError extends Error {
  override readonly name = 'WritClientError'
  constructor(
    readonly code: WritClientErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
