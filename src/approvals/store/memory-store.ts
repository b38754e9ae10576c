import type { Clock } from '../../clock.js'
import { storeUnavailable } from '../../errors.js'
import {
  type ApprovalScope,
  type ApprovalStore,
  type CreateOutcome,
  type CreateRequestOptions,
  type CredentialUse,
  type DenyOutcome,
  type EnrolOutcome,
  EXPIRED_RETENTION_SECONDS,
  MAX_JOINED_SECRETS,
  MAX_POLL_INTERVAL_SECONDS,
  type VoteOutcome,
  type WithdrawOutcome,
} from './store.js'
import {
  approvalIdInUse,
  assertCounter,
  assertCreatableRequest,
  assertMaxPending,
  assertRetentionSeconds,
  coalesceKey,
  compareCredentials,
  counterRegressed,
  jsonCopy,
} from './store-rules.js'
import type {
  ApprovalDenial,
  ApprovalEvidence,
  ApprovalRecord,
  ApprovalRequest,
  ApprovalRevocation,
  ApprovalStatus,
  ApprovalVote,
  ApproverCredential,
  ApproverCredentialState,
  CredentialFlag,
  EnrolmentInvite,
  RegistrationChallenge,
  StoredChallenge,
} from '../types.js'

/** Options of {@link createMemoryApprovalStore}. */
export interface MemoryApprovalStoreOptions {
  /** Decides every expiry. */
  clock: Clock
}

interface RequestEntry {
  request: ApprovalRequest
  status: ApprovalStatus
  votes: ApprovalVote[]
  denial?: ApprovalDenial
  revocation?: ApprovalRevocation
  /** Secret hashes of identical requests that joined this one. */
  joinedSecrets: string[]
  lastPollMs?: number
  intervalSeconds: number
  /** Challenge → record. */
  challenges: Map<string, StoredChallenge>
  /** Readable until (ms). */
  retainUntilMs: number
  /** Its expiry while pending was reported (`markExpired`). */
  expiryMarked?: boolean
}

interface Expiring<T> {
  value: T
  expiresAtMs: number
}

/**
 * The embedded approval store, for a single broker process (the memory grant store's partner).
 *
 * Same semantics as the Redis store: every method body runs synchronously to completion before
 * its promise settles, so each one is atomic with respect to every other call, as a Lua script
 * is in Redis; records go in and come out as JSON copies. Nothing survives a restart.
 */
export function createMemoryApprovalStore(options: MemoryApprovalStoreOptions): ApprovalStore {
  const { clock } = options
  const requests = new Map<string, RequestEntry>()
  const evidence = new Map<string, Expiring<ApprovalEvidence>>()
  const invites = new Map<string, Expiring<EnrolmentInvite>>()
  const registrationChallenges = new Map<string, Expiring<RegistrationChallenge>>()
  const credentials = new Map<string, { credential: ApproverCredential; counter: number; flagged?: CredentialFlag }>()
  let closed = false

  const ensureOpen = (): void => {
    // Ensure a closed store fails closed instead of answering from stale state.
    if (closed) throw storeUnavailable(new Error('the memory approval store is closed'))
  }

  /** The request entry while it is retained; drops it afterwards. */
  const entry = (id: string): RequestEntry | undefined => {
    const found = requests.get(id)
    if (!found) return undefined
    if (found.retainUntilMs <= clock()) {
      requests.delete(id)
      return undefined
    }
    return found
  }

  /** A live value from an expiring map; drops an expired one. */
  const live = <T>(map: Map<string, Expiring<T>>, key: string): T | undefined => {
    const found = map.get(key)
    if (!found) return undefined
    if (found.expiresAtMs <= clock()) {
      map.delete(key)
      return undefined
    }
    return found.value
  }

  /** Why a request can take no more decisions, or null while it is pending and unexpired. */
  const closedStatus = (e: RequestEntry | undefined): ApprovalStatus | 'expired' | 'unknown' | null => {
    if (!e) return 'unknown'
    if (e.status !== 'pending') return e.status
    if (e.request.expiresAt * 1000 <= clock()) return 'expired'
    return null
  }

  /** Open: pending or approved, unexpired, not yet collected. */
  const isOpen = (e: RequestEntry, nowMs: number): boolean =>
    (e.status === 'pending' || e.status === 'approved') && e.request.expiresAt * 1000 > nowMs

  const inScope = (id: string, e: RequestEntry, scope: ApprovalScope): boolean => {
    if ('approvalId' in scope) return id === scope.approvalId
    if ('clientId' in scope) return e.request.clientId === scope.clientId
    if ('taskId' in scope) return e.request.manifest.task.id === scope.taskId
    if ('approver' in scope) return e.votes.some((v) => v.sub === scope.approver)
    return true
  }

  const record = (e: RequestEntry): ApprovalRecord =>
    jsonCopy({
      request: e.request,
      status: e.status,
      votes: e.votes,
      ...(e.denial ? { denial: e.denial } : {}),
      ...(e.revocation ? { revocation: e.revocation } : {}),
      ...(e.joinedSecrets.length > 0 ? { joinedSecrets: e.joinedSecrets } : {}),
    })

  const credentialState = (id: string): ApproverCredentialState | null => {
    const found = credentials.get(id)
    if (!found) return null
    return jsonCopy({
      ...found.credential,
      currentCounter: found.counter,
      ...(found.flagged ? { flagged: found.flagged } : {}),
    })
  }

  const sweep = (): void => {
    const now = clock()
    for (const [id, e] of requests) if (e.retainUntilMs <= now) requests.delete(id)
    for (const map of [evidence, invites, registrationChallenges] as Map<string, Expiring<unknown>>[]) {
      for (const [key, value] of map) if (value.expiresAtMs <= now) map.delete(key)
    }
  }
  let writes = 0
  const wrote = (): void => {
    if (++writes % 1024 === 0) sweep()
  }

  return {
    kind: 'memory',

    async createRequest(request: ApprovalRequest, options?: CreateRequestOptions): Promise<CreateOutcome> {
      ensureOpen()
      const now = clock()
      assertCreatableRequest(request, now)
      if (options) assertMaxPending(options.maxPending)
      // Ensure an approval id is never reused.
      if (entry(request.id)) throw approvalIdInUse()
      if (options && request.requirements.length > 0) {
        const pending = [...requests.values()].filter(
          (e) => e.request.clientId === request.clientId && e.status === 'pending' && isOpen(e, now),
        )
        // Ensure an identical request waiting for a human is asked about once.
        const key = options.coalesce ? coalesceKey(request) : undefined
        const same = key === undefined ? undefined : pending.find((e) => coalesceKey(e.request) === key)
        if (same) {
          if (same.joinedSecrets.length >= MAX_JOINED_SECRETS) {
            return { outcome: 'too_many_joined', request: jsonCopy(same.request) }
          }
          same.joinedSecrets.push(request.secretSha256)
          return { outcome: 'joined', request: jsonCopy(same.request) }
        }
        // Ensure one client cannot keep more requests waiting for humans than its policy allows.
        if (pending.length >= options.maxPending) {
          const earliestExpiresAt = Math.min(...pending.map((e) => e.request.expiresAt))
          return { outcome: 'too_many_pending', pending: pending.length, earliestExpiresAt }
        }
      }
      requests.set(request.id, {
        request: jsonCopy(request),
        status: request.requirements.length === 0 ? 'approved' : 'pending',
        votes: [],
        joinedSecrets: [],
        intervalSeconds: request.intervalSeconds,
        challenges: new Map(),
        retainUntilMs: (request.expiresAt + EXPIRED_RETENTION_SECONDS) * 1000,
      })
      wrote()
      return { outcome: 'created' }
    },

    async getRequest(id: string): Promise<ApprovalRecord | null> {
      ensureOpen()
      const e = entry(id)
      return e ? record(e) : null
    },

    async endRequests(scope: ApprovalScope, revocation: ApprovalRevocation): Promise<ApprovalRecord[]> {
      ensureOpen()
      const now = clock()
      const ended: ApprovalRecord[] = []
      for (const id of [...requests.keys()]) {
        const e = entry(id)
        if (!e || !inScope(id, e, scope)) continue
        // A redeemed one keeps the revocation: its redeemer checks for it after minting.
        if (e.status === 'redeemed' && e.request.expiresAt * 1000 > now) {
          e.revocation ??= jsonCopy(revocation)
        }
        if (!isOpen(e, now)) continue
        // Ensure an ended request takes no vote and is never redeemed (one synchronous step).
        e.status = 'revoked'
        e.revocation = jsonCopy(revocation)
        ended.push(record(e))
      }
      return ended
    },

    async withdrawVotes(
      approvalId: string,
      credentialIds: string[],
      expectedVotes: number,
    ): Promise<WithdrawOutcome> {
      ensureOpen()
      const e = entry(approvalId)
      if (!e) return { outcome: 'closed', status: 'unknown' }
      if (e.status !== 'pending' && e.status !== 'approved') return { outcome: 'closed', status: e.status }
      if (!isOpen(e, clock())) return { outcome: 'closed', status: 'expired' }
      // Ensure the caller decided from the votes that are recorded now.
      if (e.votes.length !== expectedVotes) return { outcome: 'conflict' }
      e.votes = e.votes.filter((v) => !credentialIds.includes(v.credentialId))
      e.status = 'pending'
      return { outcome: 'withdrawn' }
    },

    async putChallenge(approvalId: string, challenge: StoredChallenge): Promise<void> {
      ensureOpen()
      const e = entry(approvalId)
      if (!e || challenge.exp * 1000 <= clock()) return
      e.challenges.set(challenge.challenge, jsonCopy(challenge))
    },

    async takeChallenge(approvalId: string, challenge: string): Promise<StoredChallenge | null> {
      ensureOpen()
      const e = entry(approvalId)
      const found = e?.challenges.get(challenge)
      if (!e || !found) return null
      // Ensure a challenge is used at most once: it leaves the store as it is read.
      e.challenges.delete(challenge)
      if (found.exp * 1000 <= clock()) return null
      return found
    },

    async addVote(
      approvalId: string,
      vote: ApprovalVote,
      opts: { expectedVotes: number; completes: boolean },
    ): Promise<VoteOutcome> {
      ensureOpen()
      const e = entry(approvalId)
      const closedAs = closedStatus(e)
      if (closedAs !== null || !e) return { outcome: 'closed', status: closedAs ?? 'unknown' }
      // Ensure one person counts once, and one key counts once.
      if (e.votes.some((v) => v.sub === vote.sub)) return { outcome: 'duplicate_approver' }
      if (e.votes.some((v) => v.credentialId === vote.credentialId)) return { outcome: 'duplicate_key' }
      // Ensure the caller decided `completes` from the votes that are recorded now.
      if (e.votes.length !== opts.expectedVotes) return { outcome: 'conflict' }
      e.votes.push(jsonCopy(vote))
      if (opts.completes) e.status = 'approved'
      return { outcome: 'recorded', status: e.status }
    },

    async deny(approvalId: string, denial: ApprovalDenial): Promise<DenyOutcome> {
      ensureOpen()
      const e = entry(approvalId)
      const closedAs = closedStatus(e)
      if (closedAs !== null || !e) return { outcome: 'closed', status: closedAs ?? 'unknown' }
      e.status = 'denied'
      e.denial = jsonCopy(denial)
      return { outcome: 'denied' }
    },

    async recordPoll(approvalId: string): Promise<{ slowDown: boolean; intervalSeconds: number }> {
      ensureOpen()
      const now = clock()
      const e = entry(approvalId)
      if (!e) return { slowDown: false, intervalSeconds: 0 }
      const last = e.lastPollMs
      e.lastPollMs = now
      if (last !== undefined && now - last < e.intervalSeconds * 1000) {
        e.intervalSeconds = Math.min(e.intervalSeconds + 5, MAX_POLL_INTERVAL_SECONDS)
        return { slowDown: true, intervalSeconds: e.intervalSeconds }
      }
      return { slowDown: false, intervalSeconds: e.intervalSeconds }
    },

    async redeem(approvalId: string): Promise<boolean> {
      ensureOpen()
      const e = entry(approvalId)
      // Ensure an approval is redeemed once, and only while it is approved and unexpired.
      if (!e || e.status !== 'approved' || e.request.expiresAt * 1000 <= clock()) return false
      e.status = 'redeemed'
      return true
    },

    async markExpired(approvalId: string): Promise<boolean> {
      ensureOpen()
      const e = entry(approvalId)
      // Ensure one caller reports the expiry of a request nobody decided.
      if (!e || e.status !== 'pending' || e.expiryMarked) return false
      if (e.request.expiresAt * 1000 > clock()) return false
      e.expiryMarked = true
      return true
    },

    async putEvidence(record: ApprovalEvidence, retentionSeconds: number): Promise<void> {
      ensureOpen()
      assertRetentionSeconds(retentionSeconds)
      evidence.set(record.approvalId, {
        value: jsonCopy(record),
        expiresAtMs: clock() + retentionSeconds * 1000,
      })
      wrote()
    },

    async getEvidence(approvalId: string): Promise<ApprovalEvidence | null> {
      ensureOpen()
      const found = live(evidence, approvalId)
      return found ? jsonCopy(found) : null
    },

    async createInvite(invite: EnrolmentInvite): Promise<void> {
      ensureOpen()
      if (invite.expiresAt * 1000 <= clock()) throw new RangeError('the invite has already expired')
      invites.set(invite.tokenSha256, { value: jsonCopy(invite), expiresAtMs: invite.expiresAt * 1000 })
      wrote()
    },

    async getInvite(tokenSha256: string): Promise<EnrolmentInvite | null> {
      ensureOpen()
      const found = live(invites, tokenSha256)
      return found ? jsonCopy(found) : null
    },

    async putRegistrationChallenge(tokenSha256: string, challenge: RegistrationChallenge): Promise<void> {
      ensureOpen()
      if (challenge.exp * 1000 <= clock()) return
      registrationChallenges.set(tokenSha256, {
        value: jsonCopy(challenge),
        expiresAtMs: challenge.exp * 1000,
      })
      wrote()
    },

    async takeRegistrationChallenge(tokenSha256: string): Promise<RegistrationChallenge | null> {
      ensureOpen()
      const found = live(registrationChallenges, tokenSha256)
      // Ensure a registration challenge is used at most once.
      registrationChallenges.delete(tokenSha256)
      return found ?? null
    },

    async enrol(invite: EnrolmentInvite, credential: ApproverCredential): Promise<EnrolOutcome> {
      ensureOpen()
      const current = live(invites, invite.tokenSha256)
      // Ensure the invite is used once, and is still the one the caller checked.
      if (!current || JSON.stringify(current) !== JSON.stringify(invite)) return 'invite_used'
      // Ensure a credential id is enrolled once, to one person.
      if (credentials.has(credential.id)) return 'credential_exists'
      assertCounter(credential.counter)
      invites.delete(invite.tokenSha256)
      credentials.set(credential.id, { credential: jsonCopy(credential), counter: credential.counter })
      return 'enrolled'
    },

    async getCredential(credentialId: string): Promise<ApproverCredentialState | null> {
      ensureOpen()
      return credentialState(credentialId)
    },

    async listCredentials(filter: { sub?: string } = {}): Promise<ApproverCredentialState[]> {
      ensureOpen()
      const out: ApproverCredentialState[] = []
      for (const [id, found] of credentials) {
        if (filter.sub !== undefined && found.credential.sub !== filter.sub) continue
        out.push(credentialState(id)!)
      }
      return out.sort(compareCredentials)
    },

    async useCredential(credentialId: string, counter: number, flag: CredentialFlag): Promise<CredentialUse> {
      ensureOpen()
      assertCounter(counter)
      const found = credentials.get(credentialId)
      if (!found) return 'unknown'
      if (found.flagged) return 'flagged'
      // Ensure a counter that goes backwards (a cloned key) is refused and the key flagged.
      if (counterRegressed(found.counter, counter)) {
        found.flagged = jsonCopy(flag)
        return 'regressed'
      }
      found.counter = counter
      return 'ok'
    },

    async flagCredential(credentialId: string, flag: CredentialFlag): Promise<boolean> {
      ensureOpen()
      const found = credentials.get(credentialId)
      if (!found) return false
      found.flagged ??= jsonCopy(flag)
      return true
    },

    async listPending(limit = 1000): Promise<ApprovalRecord[]> {
      ensureOpen()
      const now = clock()
      const ids = [...requests.entries()]
        .filter(([, e]) => e.status === 'pending' && e.request.expiresAt * 1000 > now)
        .sort(([, a], [, b]) => a.request.expiresAt - b.request.expiresAt)
        .slice(0, limit)
        .map(([id]) => id)
      const out: ApprovalRecord[] = []
      for (const id of ids) {
        const record = await this.getRequest(id)
        if (record) out.push(record)
      }
      return out
    },

    async ping(): Promise<void> {
      ensureOpen()
    },

    async close(): Promise<void> {
      closed = true
      requests.clear()
      evidence.clear()
      invites.clear()
      registrationChallenges.clear()
      credentials.clear()
    },
  }
}
