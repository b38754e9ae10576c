import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import { revokeTarget } from '../../src/grants/revoke-grants.js'
import type { GrantRef, GrantStore } from '../../src/grants/store.js'
import { createMemoryStore } from '../../src/open-store.js'

/**
 * Delegation races against a revocation. A sub-agent may exchange its token the moment it gets
 * it, so a revocation sweep can discover a grant that is still live, and, before the sweep revokes
 * it, that grant's holder can hand it over again. These tests make those hand-overs happen at the
 * worst moments of the sweep (through a store that runs a hook after a read) and check that no
 * grant delegated from a revoked one stays live.
 */

const clock = manualClock()
const revocation = { by: 'admin', reason: 'race test', at: Math.floor(clock() / 1000) }
const refOf = (g: Grant): GrantRef => ({ clientId: g.clientId, grantId: g.id })

function makeGrant(clientId: string): Grant {
  const issuedAt = Math.floor(clock() / 1000)
  return {
    id: randomUUID(),
    clientId,
    task: { id: 'JIRA-4711' },
    manifestSha256: 'ab'.repeat(32),
    authorizationDetails: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'] }],
    ruleIds: ['docs-read'],
    issuedAt,
    expiresAt: issuedAt + 600,
  }
}

/** The store with hooks that run right after `listParents` / `listChildren` read, by call number. */
function hooked(store: GrantStore) {
  const after = {
    listParents: new Map<number, () => Promise<void>>(),
    listChildren: new Map<number, () => Promise<void>>(),
  }
  const calls = { listParents: 0, listChildren: 0 }
  const wrapped: GrantStore = Object.create(store)
  wrapped.listParents = async () => {
    const result = await store.listParents()
    await after.listParents.get(++calls.listParents)?.()
    return result
  }
  wrapped.listChildren = async (parent) => {
    const result = await store.listChildren(parent)
    await after.listChildren.get(++calls.listChildren)?.()
    return result
  }
  return { wrapped, after }
}

/**
 * A memory store with `root` recorded and `child` delegated from it (naming its chain, or the
 * parent alone), `grandchild` not yet recorded, and the hooked store a sweep runs through.
 */
async function rootAndChild(chain: 'chain' | 'parent only') {
  const store = createMemoryStore({ clock })
  const [root, child, grandchild] = [makeGrant('planner'), makeGrant('worker'), makeGrant('sub')]
  await store.grants.createGrant(root)
  await store.grants.createGrant(child, { parent: refOf(root), ...(chain === 'chain' ? { ancestors: [refOf(root)] } : {}) })
  return { store, root, child, grandchild, ...hooked(store.grants) }
}

describe('a revocation sweep and hand-overs made during it', () => {
  it('revoking a grant: a hand-over from a descendant the sweep found live is refused, its chain having ended', async () => {
    const { store, root, child, grandchild, wrapped, after } = await rootAndChild('chain')
    // The sweep after the root's revocation finds the child, still recorded; its holder hands it
    // over again before the sweep revokes it. The root is gone, so the chain is refused.
    let refusal: unknown
    after.listChildren.set(1, async () => {
      refusal = await store.grants
        .createGrant(grandchild, { parent: refOf(child), ancestors: [refOf(root), refOf(child)] })
        .catch((err: unknown) => err)
    })
    const counts = await revokeTarget({ store: wrapped }, { grantId: root.id }, revocation)
    expect(refusal).toMatchObject({ status: 400, message: `subject_token: grant ${root.id}, which it was delegated from, is not live` })
    expect(await store.grants.getGrant('worker', child.id)).toMatchObject({ state: 'revoked' })
    expect(await store.grants.getGrant('sub', grandchild.id)).toEqual({ state: 'unknown' })
    expect(counts).toEqual({ revoked: 1, descendants: 1 })
    await store.close()
  })

  it('revoking a grant reaches a grandchild recorded under its live parent while the sweep ran', async () => {
    const { store, root, child, grandchild, wrapped, after } = await rootAndChild('parent only')
    // A caller that names the parent alone (no chain): the child is still live when the sweep has
    // read its list, so the grandchild is recorded; the next walk finds and revokes it.
    after.listChildren.set(1, async () => {
      await store.grants.createGrant(grandchild, { parent: refOf(child) })
    })
    const counts = await revokeTarget({ store: wrapped }, { grantId: root.id }, revocation)
    expect(await store.grants.getGrant('worker', child.id)).toMatchObject({ state: 'revoked' })
    expect(await store.grants.getGrant('sub', grandchild.id)).toMatchObject({ state: 'revoked' })
    expect(counts).toEqual({ revoked: 1, descendants: 2 })
    await store.close()
  })

  it('revoking a client reaches a grandchild delegated from a child its orphan pass found live', async () => {
    const { store, root, child, grandchild, wrapped, after } = await rootAndChild('parent only')
    // The pass after the client's grants are revoked finds the child live; it is handed over again
    // (naming its parent alone) before that pass revokes it.
    after.listChildren.set(1, async () => {
      await store.grants.createGrant(grandchild, { parent: refOf(child) })
    })
    const counts = await revokeTarget({ store: wrapped }, { clientId: 'planner' }, revocation)
    expect(await store.grants.getGrant('planner', root.id)).toMatchObject({ state: 'revoked' })
    expect(await store.grants.getGrant('worker', child.id)).toMatchObject({ state: 'revoked' })
    expect(await store.grants.getGrant('sub', grandchild.id)).toMatchObject({ state: 'revoked' })
    expect(counts).toEqual({ revoked: 1, descendants: 2 })
    await store.close()
  })
})
