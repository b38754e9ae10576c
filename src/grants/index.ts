export type { Grant, GrantApproval, GrantApprover, GrantState, Revocation } from './grant.js'
export type {
  CreateGrantOptions,
  GrantRef,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
  StoredKeySet,
  SubscriptionState,
  Unsubscribe,
} from './store.js'
export {
  revokeGrants,
  revokeTarget,
  type RevocationTarget,
  type RevokedCounts,
  type RevokeGrantsDeps,
} from './revoke-grants.js'
export { revokeGrantTree, type RevokedTree } from './revoke-descendants.js'
export { createMemoryStore, type MemoryStoreOptions } from './memory-store.js'
export {
  createRedisStore,
  failFastRedisOptions,
  type RedisGrantStore,
  type RedisStoreOptions,
} from './redis-store.js'
export {
  createRedisConnection,
  type RedisClient,
  type RedisEndpoint,
  type RedisTopology,
} from './redis-connection.js'
