import { decodeJwt } from 'jose'
import type { ClientAuthenticator } from './authenticate-client.js'
import { parseBasicAuth } from './parse-basic-auth.js'
import { WritError } from '../errors.js'
import { escapeUnsafeText } from '../text/escape-unsafe-text.js'
import type { Auditor } from '../audit/create-auditor.js'

/** Longest claimed client id or reason kept in an event. */
const MAX_FIELD = 256

/** The client id a failed request claimed: Basic user, `client_id`, or an assertion's `sub`. */
function claimedClient(
  authorization: string | undefined,
  params: Record<string, string | undefined>,
): string | undefined {
  const basic = authorization ? parseBasicAuth(authorization.trim())?.clientId : undefined
  if (basic) return basic
  if (params.client_id) return params.client_id
  if (params.client_assertion) {
    try {
      // Read, not trusted: the assertion failed; this only says whom it claimed to be.
      const sub = decodeJwt(params.client_assertion).sub
      if (typeof sub === 'string') return sub
    } catch {
      return undefined
    }
  }
  return undefined
}

/**
 * Wraps a client authenticator so every failed client authentication (`invalid_client`) is
 * audited as `client.auth_failed`, coalesced per claimed client id (see `Auditor.noteRepeated`).
 * Secrets are never recorded; the reason is the authenticator's internal detail (`wrong secret`,
 * `unknown client "x"`, ...). The claimed id is unauthenticated input: it is recorded with every
 * control, invisible or bidi character escaped (`\u001B`), never raw. The failure is rethrown
 * unchanged.
 */
export function auditClientAuthentication(
  clients: ClientAuthenticator,
  audit: Pick<Auditor, 'noteRepeated'>,
): ClientAuthenticator {
  return {
    async authenticate(req) {
      try {
        return await clients.authenticate(req)
      } catch (err) {
        if (err instanceof WritError && err.code === 'invalid_client') {
          const claimed = claimedClient(req.authorization, req.params)
          // Ensure the unauthenticated id is stored escaped: no escape sequence reaches the log.
          const client = claimed === undefined ? undefined : escapeUnsafeText(claimed.slice(0, MAX_FIELD))
          audit.noteRepeated(`client:${client ?? ''}`, {
            type: 'client.auth_failed',
            actor: 'anonymous',
            ...(client === undefined ? {} : { client }),
            reason: escapeUnsafeText((err.detail ?? err.message).slice(0, MAX_FIELD)),
          })
        }
        throw err
      }
    },
  }
}
