export type { Grant, GrantApproval, GrantApprover, GrantState, Revocation } from './grant.js'
export type {
  CreateGrantOptions,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
  StoredKeySet,
  SubscriptionState,
  Unsubscribe,
} from './store.js'
export {
  keySetMessage,
  parseRevocationMessage,
  REVOCATION_CHANNEL_SUFFIX,
  type KeySetMessage,
  type RevocationMessage,
} from './revocation-message.js'
export { revokeGrants, type RevocationTarget, type RevokeGrantsDeps } from './revoke-grants.js'
export { createStoreKeys, DEFAULT_KEY_PREFIX, encodeKeyPart, type StoreKeys } from './keys.js'
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
