export type { Grant, GrantApproval, GrantApprover, GrantState, Revocation } from './grant.js'
export type {
  CreateGrantOptions,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
} from './store.js'
export { revokeGrants, type RevocationTarget, type RevokeGrantsDeps } from './revoke-grants.js'
export { createMemoryGrantStore, type MemoryGrantStoreOptions } from './memory-store.js'
export { createRedisGrantStore, type RedisGrantStoreOptions } from './redis-store.js'
