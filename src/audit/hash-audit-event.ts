import { createHash } from 'node:crypto'
import { canonicalize } from '../manifest/canonicalize.js'

/**
 * The hash that chains an event: hex SHA-256 over `prev` (the previous event's hash, 64 hex
 * characters) followed by the RFC 8785 canonical JSON of the event without its `hash` member.
 * Any change to any member of the event, or to the event before it, changes it.
 *
 * @throws TypeError when `event` is not plain JSON (see `canonicalize`) or has no string `prev`.
 *
 * @example
 * const hash = hashAuditEvent({ seq: 1, time, type: 'grant.issued', ..., prev: GENESIS_HASH })
 */
export function hashAuditEvent(event: { prev: string; hash?: unknown }): string {
  if (typeof event.prev !== 'string') throw new TypeError('an audit event needs a string prev')
  const { hash: _ignored, ...body } = event
  return createHash('sha256')
    .update(event.prev, 'utf8')
    .update(canonicalize(body), 'utf8')
    .digest('hex')
}
