import { DEFAULT_KEY_PREFIX, encodeKeyPart } from '../../wire/keys.js'

/**
 * Every Redis key the approvals module uses, under the grant store's prefix.
 *
 * Ready for Redis Cluster: the keys of one approval request share the hash tag `{ar:<id>}`, every
 * approver record (invites, registration challenges, credentials and their indexes) shares
 * `{ap}`, and the indexes of open approval requests share `{ao}`, so each Lua script touches one
 * slot. Approver data is small and written rarely; one slot for it keeps enrolment (consume the
 * invite, store the key, index it) a single script. Open requests are bounded per client; one
 * slot for their indexes makes the per-client bound and coalescing a single script.
 *
 * ```text
 * <p>{ar:<id>}:req              approval request JSON (immutable)
 * <p>{ar:<id>}:st               hash { status, exp (ms), nvotes, poll (ms), interval (s), denial,
 *                                revocation, expired (set once its expiry while pending was
 *                                reported), njoined, j:<n> → a joined secret's SHA-256 }
 * <p>{ar:<id>}:v                hash { p:<sub> → vote JSON, k:<credential> → sub, o:<n> → sub }
 * <p>{ar:<id>}:ch:<challenge>   challenge JSON, PX = the challenge's life
 * <p>{ap}:inv:<token sha256>    enrolment invite JSON, PX = the invite's life
 * <p>{ap}:rch:<token sha256>    registration challenge JSON, PX = its life
 * <p>{ap}:cred:<credential>     hash { json, counter, flagged }
 * <p>{ap}:by:<sub>              set of the approver's credential ids
 * <p>{ap}:creds                 set of every credential id
 * <p>ev:<approval id>           approval evidence JSON, EX = the retention period
 * <p>{ao}:all                   zset of open request ids (not collected, decided or ended) by
 *                                expiry (ms)
 * <p>{ao}:c:<client>            zset, the client's open request ids by expiry (ms)
 * <p>{ao}:t:<task>              zset, the task's open request ids by expiry (ms)
 * <p>{ao}:h:<client>            zset, the client's requests waiting for a human, by expiry (ms)
 * <p>{ao}:m:<client>:<key>      id of the client's pending request with this coalescing key
 * ```
 */
export interface ApprovalKeys {
  readonly prefix: string
  request(id: string): string
  state(id: string): string
  votes(id: string): string
  challenge(id: string, challenge: string): string
  invite(tokenSha256: string): string
  registrationChallenge(tokenSha256: string): string
  credential(credentialId: string): string
  approverCredentials(sub: string): string
  allCredentials(): string
  evidence(approvalId: string): string
  /** Open approval requests, every client's (zset of ids scored by expiry in ms). */
  openAll(): string
  /** One client's open approval requests. */
  openByClient(clientId: string): string
  /** One task's open approval requests, every client's. */
  openByTask(taskId: string): string
  /** One client's requests waiting for a human. */
  pendingByClient(clientId: string): string
  /** The id of the client's pending request with this coalescing key. */
  coalesce(clientId: string, key: string): string
}

/**
 * Key builders for a prefix (the grant store's). Every id is encoded with `encodeKeyPart`, so no
 * id can break out of its segment or its hash tag.
 *
 * @throws TypeError when the prefix contains `{` or `}` (it would override the hash tags).
 */
export function createApprovalKeys(prefix: string = DEFAULT_KEY_PREFIX): ApprovalKeys {
  // Ensure the prefix cannot override the hash tags.
  if (prefix.includes('{') || prefix.includes('}')) {
    throw new TypeError('the store key prefix must not contain "{" or "}"')
  }
  const req = (id: string): string => `${prefix}{ar:${encodeKeyPart(id)}}`
  const ap = `${prefix}{ap}`
  const ao = `${prefix}{ao}`
  return {
    prefix,
    request: (id) => `${req(id)}:req`,
    state: (id) => `${req(id)}:st`,
    votes: (id) => `${req(id)}:v`,
    challenge: (id, challenge) => `${req(id)}:ch:${encodeKeyPart(challenge)}`,
    invite: (hash) => `${ap}:inv:${encodeKeyPart(hash)}`,
    registrationChallenge: (hash) => `${ap}:rch:${encodeKeyPart(hash)}`,
    credential: (id) => `${ap}:cred:${encodeKeyPart(id)}`,
    approverCredentials: (sub) => `${ap}:by:${encodeKeyPart(sub)}`,
    allCredentials: () => `${ap}:creds`,
    evidence: (id) => `${prefix}ev:${encodeKeyPart(id)}`,
    openAll: () => `${ao}:all`,
    openByClient: (clientId) => `${ao}:c:${encodeKeyPart(clientId)}`,
    openByTask: (taskId) => `${ao}:t:${encodeKeyPart(taskId)}`,
    pendingByClient: (clientId) => `${ao}:h:${encodeKeyPart(clientId)}`,
    coalesce: (clientId, key) => `${ao}:m:${encodeKeyPart(clientId)}:${encodeKeyPart(key)}`,
  }
}
