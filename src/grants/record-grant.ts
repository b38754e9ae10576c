import { queryRef } from '../audit/audit-index-refs.js'
import type { Auditor } from '../audit/create-auditor.js'
import { encodeGrantIssued } from './grant-issued-event.js'
import { grantVoidedEvent } from './grant-voided-event.js'
import type { Grant } from './grant.js'
import type { CreatedGrant, CreateGrantOptions, GrantStore } from './store.js'
import { GrantExpiredError } from './store-rules.js'
import { WritError } from '../errors.js'

export interface RecordGrantDeps {
  store: GrantStore
  audit: Pick<Auditor, 'record' | 'note' | 'sharedIntake'>
}

/**
 * Records a new grant and its `grant.issued` audit event, both durable before it resolves: what
 * must hold before any token for the grant exists. Where the store and the log share one Redis,
 * one script writes both or neither; elsewhere the two writes go out together, and a refusal by
 * the store is followed by `grant.voided`, a failed audit write by the grant's removal.
 *
 * `detailsJson` is the canonical JSON of the grant's authorization details (the manifest hash
 * already computed it). Rejects with the store's error (a quota, an id in use, 503) or the audit
 * log's (503); no token may be minted then.
 */
export async function recordGrant(
  deps: RecordGrantDeps,
  grant: Grant,
  detailsJson: string,
  options: Omit<CreateGrantOptions, 'auditIntake' | 'detailsJson'> = {},
): Promise<void> {
  const { store, audit } = deps
  const issued = encodeGrantIssued(grant, detailsJson)
  const shared = audit.sharedIntake
  if (shared && store.takesAuditIntake?.(shared.client)) {
    // The store and the log share one Redis: one script records both, or neither. The event's
    // text is the grant's record too (one payload), and as the first event to name the grant it
    // is indexed under it by the same script.
    const ref = queryRef({ grantId: grant.id })
    await shared.append(issued, async (body) => {
      const index = { key: shared.firstKey, ref }
      const auditIntake = { streamKey: shared.streamKey, body, index }
      // The body is the record: the store needs no details JSON to write one.
      const created = await createOrRefuse(store, grant, { ...options, auditIntake })
      return { seq: created.auditSeq ?? 0, indexed: created.auditIndexed ? [ref] : [] }
    })
    return
  }
  // Two writes, sent together (one round trip on Redis), like a write-ahead log: when the store
  // refuses, `grant.voided` follows `grant.issued`.
  const [recorded, audited] = await Promise.allSettled([
    createOrRefuse(store, grant, { ...options, detailsJson }),
    audit.record(issued),
  ])
  if (recorded.status === 'rejected') {
    if (audited.status === 'fulfilled') {
      await audit.note(grantVoidedEvent(grant, recorded.reason))
    }
    throw recorded.reason
  }
  if (audited.status === 'rejected') {
    // No token leaves: take the grant out of the live set again, so it holds no quota (best effort).
    const reason = 'not issued: its audit record could not be written'
    await store
      .revokeGrant(grant.clientId, grant.id, { by: 'system', reason, at: grant.issuedAt })
      .catch(() => null)
    throw audited.reason
  }
}

/**
 * The store's `createGrant`, with a grant whose life ran out before it was recorded (a one-second
 * ttl asked late in a second, or a broker slowed down) refused as retryable: 503
 * `temporarily_unavailable`, nothing recorded.
 */
async function createOrRefuse(store: GrantStore, grant: Grant, options: CreateGrantOptions): Promise<CreatedGrant> {
  try {
    return await store.createGrant(grant, options)
  } catch (err) {
    if (!(err instanceof GrantExpiredError)) throw err
    const life = grant.expiresAt - grant.issuedAt
    throw new WritError(
      'temporarily_unavailable',
      503,
      `the grant's life (${life} s) ran out before it could be recorded; ask again, or for a longer ttl`,
      { retryAfterSeconds: 1 },
    )
  }
}
