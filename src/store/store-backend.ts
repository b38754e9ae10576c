import type { MemoryBackend } from './memory-backend.js'
import type { RedisBackend } from './redis-backend.js'

/**
 * What a store lives on: process memory, or one Redis connection (single, Sentinel, Cluster).
 * The typed seam a module with state of its own (approvals, the audit log, AWS sessions) builds
 * its memory or Redis adapter on, by `kind`, instead of borrowing another port's client.
 */
export type StoreBackend = MemoryBackend | RedisBackend
