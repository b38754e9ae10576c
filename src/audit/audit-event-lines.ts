import type { AuditEvent, AuditEventType } from './types.js'

/** The stored event of one type. */
export type AuditEventOf<T extends AuditEventType> = AuditEvent & { type: T }

/**
 * One-line descriptions of audit events, by type: what happened, to what, by whom, as a person
 * reads it in `writ audit`. Each domain that emits events describes its own (beside the events);
 * the CLI looks them up in one registry that must cover every {@link AuditEventType}.
 */
export type AuditEventLines<T extends AuditEventType> = {
  readonly [K in T]: (event: AuditEventOf<K>) => string
}

/** Seconds since the epoch as ISO 8601. */
export const isoSeconds = (seconds: number): string => new Date(seconds * 1000).toISOString()

/** A field as text: strings as they are, anything else as JSON. */
export const textOf = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v))
