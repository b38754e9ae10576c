import type { AuthorizationDetail } from '../manifest/types.js'

const MAX_LENGTH = 200

/**
 * A one-line summary of a grant for messages, at most 200 characters:
 * `repo write on https://git.example.com/acme/app docs/**`.
 */
export function describeGrant(grant: AuthorizationDetail): string {
  const actions = Array.isArray(grant.actions) ? grant.actions.join(',') : '(no actions)'
  let out = `${grant.type} ${actions}`
  if (Array.isArray(grant.locations) && grant.locations.length > 0) {
    out += ` on ${grant.locations.join(', ')}`
  }
  if (typeof grant.identifier === 'string') out += ` ${grant.identifier}`
  return out.length > MAX_LENGTH ? `${out.slice(0, MAX_LENGTH - 1)}…` : out
}
