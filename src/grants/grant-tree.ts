import type { GrantRef, GrantStore } from './store.js'

/** Most grants a tree lists; a larger subtree is cut (`truncated`). */
export const MAX_TREE_NODES = 1000

/** Deepest level a tree lists; the policy caps delegation depth far below this. */
const MAX_TREE_DEPTH = 32

/** One grant delegated from another, and the grants delegated from it. */
export interface GrantTreeNode {
  id: string
  clientId: string
  state: 'live' | 'revoked' | 'unknown'
  expiresAt?: number
  children: GrantTreeNode[]
}

/** The grants delegated from one grant, at every depth. */
export interface GrantTree {
  children: GrantTreeNode[]
  /** How many grants the tree lists. */
  count: number
  /** True when it was cut at {@link MAX_TREE_NODES}. */
  truncated: boolean
}

/**
 * The grants delegated (token exchange) from `root` that may still be live, at every depth, with
 * the state each is in now: what `writ grants show` draws. Bounded to {@link MAX_TREE_NODES}.
 */
export async function grantTree(
  store: Pick<GrantStore, 'listChildren' | 'getGrant'>,
  root: GrantRef,
): Promise<GrantTree> {
  let count = 0
  let truncated = false
  const seen = new Set<string>()
  const walk = async (parent: GrantRef, depth: number): Promise<GrantTreeNode[]> => {
    if (depth > MAX_TREE_DEPTH) return []
    const nodes: GrantTreeNode[] = []
    for (const child of await store.listChildren(parent)) {
      const key = `${child.clientId}\u0000${child.grantId}`
      if (seen.has(key)) continue
      if (count >= MAX_TREE_NODES) {
        truncated = true
        break
      }
      seen.add(key)
      count++
      const state = await store.getGrant(child.clientId, child.grantId)
      nodes.push({
        id: child.grantId,
        clientId: child.clientId,
        state: state.state,
        ...(state.state === 'live' ? { expiresAt: state.grant.expiresAt } : {}),
        ...(state.state === 'revoked' ? { expiresAt: state.revocation.expiresAt } : {}),
        children: await walk(child, depth + 1),
      })
    }
    return nodes
  }
  const children = await walk(root, 1)
  return { children, count, truncated }
}
