import type { Grant } from './grant.js'
import type { GrantRef, GrantStore, RevocationInput } from './store.js'

/** Deepest chain walked; the policy caps delegation depth far below this. */
const MAX_LEVELS = 64

/**
 * Most walks of one revocation. Each walk after the first finds new only grants delegated during
 * the walk before (each at least one level deeper than the last), so the depth caps it.
 */
const MAX_WALKS = MAX_LEVELS + 1

const keyOf = (ref: GrantRef): string => `${ref.clientId}\u0000${ref.grantId}`

/**
 * Revokes every live descendant of `roots` (grants delegated from them, and from those, ...),
 * not the roots themselves, and returns how many it revoked. Call it after revoking the roots.
 *
 * A delegated grant is live only while every grant above it is (`Grant.delegation.ancestors`:
 * verifiers, introspection and the store check them all), so the descendants ended with the
 * roots' revocation; this walk takes their records out, each with its tombstone and message, so
 * listings, quotas and the audit log agree. The tree is read level by level through the store's
 * children lists, then revoked from the leaves up (one message per batch).
 *
 * A grant a walk finds live may be handed over again before the walk revokes it; its new child
 * passed the store's chain check, so only a walk that reads after the revocation finds it. So
 * walks repeat until one finds no grant an earlier walk had not: every grant the last walk found
 * was revoked before it read, and any child listed under one after that read is refused by the
 * store. A walk revokes only the grants no earlier walk found (those are revoked, gone or expired
 * already), so the repeats cost reads only. `known` carries what earlier walks found between calls.
 */
export async function revokeDescendants(
  store: Pick<GrantStore, 'listChildren' | 'listParents' | 'revokeMany'>,
  roots: readonly GrantRef[],
  revocation: RevocationInput,
  known: Set<string> = new Set(),
): Promise<number> {
  let total = 0
  for (let walk = 0; walk < MAX_WALKS; walk++) {
    const { revoked, fresh } = await revokeOneWalk(store, roots, revocation, known)
    total += revoked
    if (fresh === 0) break
  }
  return total
}

/**
 * One walk of the trees below `roots`: read level by level, then the descendants no earlier walk
 * had found (added to `known`; `fresh` counts them) revoked leaves up.
 */
async function revokeOneWalk(
  store: Pick<GrantStore, 'listChildren' | 'listParents' | 'revokeMany'>,
  roots: readonly GrantRef[],
  revocation: RevocationInput,
  known: Set<string>,
): Promise<{ revoked: number; fresh: number }> {
  // Only grants that have had children are asked for theirs: one read instead of one per leaf. A
  // grant that gets its first child after this read is found by the next walk.
  const parents = new Set((await store.listParents()).map(keyOf))
  const seen = new Set(roots.map(keyOf))
  const levels: GrantRef[][] = []
  let current: readonly GrantRef[] = roots
  for (let depth = 0; depth < MAX_LEVELS && current.length > 0; depth++) {
    const asked = current.filter((ref) => parents.has(keyOf(ref)))
    const next: GrantRef[] = []
    const fresh: GrantRef[] = []
    for (const lists of await Promise.all(asked.map((ref) => store.listChildren(ref)))) {
      for (const child of lists) {
        const key = keyOf(child)
        if (seen.has(key)) continue
        seen.add(key)
        next.push(child)
        if (known.has(key)) continue
        known.add(key)
        fresh.push(child)
      }
    }
    if (fresh.length > 0) levels.push(fresh)
    current = next
  }
  let revoked = 0
  let fresh = 0
  // Ensure no descendant outlives an ancestor: leaves first, the roots' children last.
  for (const level of levels.reverse()) {
    fresh += level.length
    revoked += await store.revokeMany(level, revocation)
  }
  return { revoked, fresh }
}

/** What {@link revokeGrantTree} revoked: the grant itself (when it was live) and its descendants. */
export interface RevokedTree {
  /** The grant, when it was live. */
  grant: Grant | null
  /** How many of its descendants were live and are revoked now. */
  descendants: number
}

/**
 * Revokes one grant and every grant delegated from it: the grant first (which ends its whole
 * subtree at every verifier, through the chain each descendant carries), then the descendants'
 * records (see {@link revokeDescendants}). A grant already revoked still has its descendants
 * revoked (a cascade that failed part-way is finished by a retry).
 */
export async function revokeGrantTree(
  store: Pick<GrantStore, 'listChildren' | 'listParents' | 'revokeMany' | 'revokeGrant'>,
  root: GrantRef,
  revocation: RevocationInput,
): Promise<RevokedTree> {
  const grant = await store.revokeGrant(root.clientId, root.grantId, revocation)
  const descendants = await revokeDescendants(store, [root], revocation)
  return { grant, descendants }
}

/**
 * After a bulk revocation (by task, client, approver, everything): revokes the live descendants of
 * every grant with children that is not live any more, and returns how many.
 */
export async function revokeOrphans(
  store: Pick<GrantStore, 'listParents' | 'listChildren' | 'revokeMany' | 'findGrant'>,
  revocation: RevocationInput,
): Promise<number> {
  const parents = await store.listParents()
  const states = await Promise.all(parents.map((ref) => store.findGrant(ref.grantId)))
  const gone = parents.filter((_, i) => states[i]!.state !== 'live')
  return gone.length === 0 ? 0 : revokeDescendants(store, gone, revocation)
}
