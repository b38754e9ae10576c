import { hash as digest } from 'node:crypto'
import { canonicalize } from '../manifest/canonicalize.js'

/** Members the chain sets; everything else is the event's body. */
export const CHAIN_MEMBERS: ReadonlySet<string> = new Set(['seq', 'prev', 'hash'])

/**
 * The hash that chains an event, from its parts: hex SHA-256 over `prev` (64 hex characters), then
 * `seq` in decimal, then `body` — the RFC 8785 canonical JSON of the event without `seq`, `prev`
 * and `hash`. The three parts cannot run into each other: `prev` has a fixed length and the body
 * starts with `{`.
 */
export function chainHash(prev: string, seq: number, body: string): string {
  return digest('sha256', `${prev}${seq}${body}`, 'hex')
}

/** The event's body: the canonical JSON of every member but `seq`, `prev` and `hash`. */
export function auditEventBody(event: Record<string, unknown>): string {
  const body: Record<string, unknown> = {}
  for (const name of Object.keys(event)) {
    if (!CHAIN_MEMBERS.has(name)) body[name] = event[name]
  }
  return canonicalize(body)
}

/**
 * The hash that chains an event (see {@link chainHash}): over `prev`, `seq` and the canonical JSON
 * of every other member but `hash`. Any change to any member of the event, or to the event before
 * it, changes it.
 *
 * @throws TypeError when `event` is not plain JSON (see `canonicalize`), or has no string `prev`
 *   or no positive integer `seq`.
 *
 * @example
 * const hash = hashAuditEvent({ seq: 1, prev: GENESIS_HASH, time, type: 'grant.issued', ... })
 */
export function hashAuditEvent(event: { seq: number; prev: string; hash?: unknown }): string {
  if (typeof event.prev !== 'string') throw new TypeError('an audit event needs a string prev')
  if (!Number.isSafeInteger(event.seq) || event.seq < 1) {
    throw new TypeError('an audit event needs a positive integer seq')
  }
  return chainHash(event.prev, event.seq, auditEventBody(event as Record<string, unknown>))
}
