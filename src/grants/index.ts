export type { Grant, GrantApproval, GrantApprover, GrantState, Revocation } from './grant.js'
export type {
  CreateGrantOptions,
  GrantRef,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
} from './store.js'
export {
  revokeGrants,
  revokeTarget,
  type RevocationTarget,
  type RevokedCounts,
  type RevokeGrantsDeps,
} from './revoke-grants.js'
export { revokeGrantTree, type RevokedTree } from './revoke-descendants.js'
export { createMemoryGrantStore, type MemoryGrantStoreOptions } from './memory-store.js'
export { createRedisGrantStore, type RedisGrantStoreOptions } from './redis-store.js'
