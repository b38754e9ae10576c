/**
 * Every Redis key writ uses, built in one place under one prefix. Part of the wire contract
 * (`src/wire/`): the broker writes these keys and `writ/verifier` in `redis` mode reads them, so
 * this file imports nothing of either side.
 *
 * The layout is ready for Redis Cluster: keys that one Lua script touches together share a hash
 * tag, so they live in one slot. A client's grants, tombstones, live index and task indexes are
 * tagged `{c:<clientId>}`; an approver's index is tagged `{a:<sub>}` (it spans clients, so it is
 * written next to, not inside, the client's script); single-key records (grant id pointers,
 * single-use markers, the key set) carry no tag and spread over the slots. The index of clients
 * with live grants is one key in one slot, written next to the client's script like the approver
 * index: it is what lets revoke-all, revoke-by-task and the admin listing reach every client,
 * whatever the policy in force says.
 *
 * ```text
 * <p>{c:<client>}:g:<grant>     grant record (its grant.issued event's JSON), PX = remaining life
 * <p>{c:<client>}:x:<grant>     tombstone (revocation JSON) until the grant's original expiry
 * <p>{c:<client>}:live          zset of live grant ids, scored by expiry (ms)
 * <p>{c:<client>}:t:<task>      zset of the task's live grant ids, scored by expiry (ms)
 * <p>{a:<sub>}:grants           zset of `<client>\0<grant>` the approver approved, by expiry (ms)
 * <p>clients                    zset of client ids with grants, by their latest expiry (ms); no TTL
 * <p>{c:<client>}:locked        zset of the ids of the locks on the client, by expiry (ms, +inf)
 * <p>{a:<sub>}:locked           zset of the ids of the locks on the approver, by expiry (ms, +inf)
 * <p>locked:task:<task>         zset of the ids of the locks on the task, by expiry (ms, +inf)
 * <p>locks                      hash { <lock id>: lock JSON }: every lock, for listing and unlocking
 * <p>{c:<client>}:k:<grant>     zset of `<client>\0<grant>` children delegated from the grant, by expiry (ms)
 * <p>delegating                 zset of `<client>\0<grant>` grants with children, by latest child expiry (ms)
 * <p>gid:<grant>                the grant's client id, PX = the grant's life (lookups by id alone)
 * <p>once:<scope>:<id>          single-use marker, EX = its ttl
 * <p>keys                       hash { version, data }: the signing key set
 * <p>setting:<name>             a write-once setting (the bootstrapped admin token hash)
 * <p>vsetting:<name>            hash { version, data }: a replaceable setting (the stored policy)
 * <p>revocations                pub/sub channel of revocation messages (not a key)
 * ```
 *
 * Ids are encoded with {@link encodeKeyPart}, so no id can contain `{`, `}` or `:`: an id cannot
 * move a key to another client's slot, end a segment early, or collide with another id's key.
 */

import { REVOCATION_CHANNEL_SUFFIX } from './revocation-message.js'

/** The prefix used when none is configured. */
export const DEFAULT_KEY_PREFIX = 'writ:'

/** Key builders for one prefix. */
export interface StoreKeys {
  readonly prefix: string
  /** The grant record. */
  grant(clientId: string, grantId: string): string
  /** The tombstone left by revoking a grant. */
  tombstone(clientId: string, grantId: string): string
  /** The client's live-grant index (zset scored by expiry in ms). */
  live(clientId: string): string
  /** The client's per-task live-grant index (zset scored by expiry in ms). */
  task(clientId: string, taskId: string): string
  /** A single-use marker. */
  once(scope: string, id: string): string
  /** The signing key set. */
  keySet(): string
  /** A write-once setting. */
  setting(name: string): string
  /** A replaceable setting: hash { version, data }, written by compare-and-set. */
  versionedSetting(name: string): string
  /** Grant id → client id, for lookups by grant id alone. */
  grantPointer(grantId: string): string
  /**
   * The children delegated from a grant (token exchange): zset of {@link approverMember}s (child
   * client and id) scored by expiry in ms, in the parent's slot.
   */
  children(clientId: string, grantId: string): string
  /** Every grant with children: zset of {@link approverMember}s scored by the latest child expiry. */
  delegating(): string
  /** The grants an approver approved (zset of {@link approverMember}s scored by expiry in ms). */
  approver(sub: string): string
  /**
   * Every client that has had a grant, scored by the latest expiry (ms) of its grants: while the
   * score is ahead the client may hold live grants. Members are raw client ids.
   */
  clients(): string
  /** A SCAN `MATCH` pattern for every client's live index under this prefix. */
  livePattern(): string
  /** The client id of a key {@link livePattern} matched; null for any other key. */
  clientOfLive(key: string): string | null
  /** The pub/sub channel revocation messages are published on: `<prefix>revocations`. */
  revocationChannel(): string
  /**
   * The ids of the locks on one target (zset scored by expiry in ms, `+inf` for none). A client's
   * is in the client's slot, so the grant-create script reads it on Redis Cluster too.
   */
  lockMarker(target: { kind: 'client' | 'task' | 'approver'; id: string }): string
  /** Every lock by id (hash of lock JSON). */
  locks(): string
}

/**
 * A member of an approver index (and of the delegation indexes): the grant's client and id,
 * joined by a NUL character.
 */
export function approverMember(clientId: string, grantId: string): string {
  return `${clientId}\u0000${grantId}`
}

/**
 * Splits an approver index member. Grant ids never contain NUL, so the last NUL separates them
 * whatever the client id holds. Null for a member that is not one of ours.
 */
export function parseApproverMember(member: string): { clientId: string; grantId: string } | null {
  const at = member.lastIndexOf('\u0000')
  if (at < 0) return null
  return { clientId: member.slice(0, at), grantId: member.slice(at + 1) }
}

const RESERVED = /[%{}:]/g
const ESCAPES: Readonly<Record<string, string>> = { '%': '%25', '{': '%7B', '}': '%7D', ':': '%3A' }

/**
 * Escapes the characters that carry meaning in the key layout (`%`, `{`, `}`, `:`) as `%XX`.
 * Injective: `%` itself is escaped, so two different ids never encode to the same string.
 */
export function encodeKeyPart(value: string): string {
  return value.replace(RESERVED, (ch) => ESCAPES[ch]!)
}

const ENCODED = /%(25|7B|7D|3A)/g

/** The inverse of {@link encodeKeyPart}. */
export function decodeKeyPart(value: string): string {
  return value.replace(ENCODED, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/** Escapes the characters a Redis glob pattern gives meaning to, so they match themselves. */
export function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, (ch) => `\\${ch}`)
}

/**
 * Builds the key builders for a prefix (default `writ:`).
 *
 * @throws TypeError when the prefix contains `{` or `}`: a hash tag in the prefix would put every
 *   key in one Cluster slot and override the per-client tags.
 */
export function createStoreKeys(prefix: string = DEFAULT_KEY_PREFIX): StoreKeys {
  // Ensure the prefix cannot override the per-client hash tags.
  if (prefix.includes('{') || prefix.includes('}')) {
    throw new TypeError('the store key prefix must not contain "{" or "}"')
  }
  const client = (clientId: string): string => `${prefix}{c:${encodeKeyPart(clientId)}}`
  return {
    prefix,
    grant: (clientId, grantId) => `${client(clientId)}:g:${encodeKeyPart(grantId)}`,
    tombstone: (clientId, grantId) => `${client(clientId)}:x:${encodeKeyPart(grantId)}`,
    live: (clientId) => `${client(clientId)}:live`,
    task: (clientId, taskId) => `${client(clientId)}:t:${encodeKeyPart(taskId)}`,
    once: (scope, id) => `${prefix}once:${encodeKeyPart(scope)}:${encodeKeyPart(id)}`,
    keySet: () => `${prefix}keys`,
    setting: (name) => `${prefix}setting:${encodeKeyPart(name)}`,
    versionedSetting: (name) => `${prefix}vsetting:${encodeKeyPart(name)}`,
    grantPointer: (grantId) => `${prefix}gid:${encodeKeyPart(grantId)}`,
    children: (clientId, grantId) => `${client(clientId)}:k:${encodeKeyPart(grantId)}`,
    delegating: () => `${prefix}delegating`,
    approver: (sub) => `${prefix}{a:${encodeKeyPart(sub)}}:grants`,
    clients: () => `${prefix}clients`,
    livePattern: () => `${escapeGlob(prefix)}{c:*}:live`,
    clientOfLive: (key) => {
      const head = `${prefix}{c:`
      const tail = '}:live'
      if (!key.startsWith(head) || !key.endsWith(tail) || key.length < head.length + tail.length) {
        return null
      }
      const encoded = key.slice(head.length, key.length - tail.length)
      // Ensure only a live index matches: an encoded id never holds "{", "}" or ":".
      return /[{}:]/.test(encoded) ? null : decodeKeyPart(encoded)
    },
    revocationChannel: () => `${prefix}${REVOCATION_CHANNEL_SUFFIX}`,
    lockMarker: (target) =>
      target.kind === 'client'
        ? `${client(target.id)}:locked`
        : target.kind === 'approver'
          ? `${prefix}{a:${encodeKeyPart(target.id)}}:locked`
          : `${prefix}locked:task:${encodeKeyPart(target.id)}`,
    locks: () => `${prefix}locks`,
  }
}
