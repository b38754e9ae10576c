export type { Grant, GrantState, Revocation } from './grant.js'
export type { CreateGrantOptions, GrantStore, StoredKeySet } from './store.js'
export { createStoreKeys, DEFAULT_KEY_PREFIX, encodeKeyPart, type StoreKeys } from './keys.js'
export { createMemoryStore, type MemoryStoreOptions } from './memory-store.js'
export {
  createRedisStore,
  failFastRedisOptions,
  type RedisGrantStore,
  type RedisStoreOptions,
} from './redis-store.js'
