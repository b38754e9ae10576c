import { WritError } from '../errors.js'
import type { Grant } from './grant.js'
import type { GrantVoidedEvent } from '../audit/types.js'

/** The `grant.voided` event of a grant the store refused or failed to record: no token. */
export function grantVoidedEvent(grant: Grant, err: unknown): GrantVoidedEvent {
  return {
    type: 'grant.voided',
    actor: 'system',
    client: grant.clientId,
    grant: grant.id,
    task: grant.task.id,
    reason: err instanceof WritError ? err.code : 'server_error',
    message:
      err instanceof WritError && err.expose
        ? err.message.slice(0, 1024)
        : 'the grant could not be recorded',
  }
}
