import type { Clock } from '../clock.js'
import { storeUnavailable } from '../errors.js'
import {
  type ApprovalStore,
  type CredentialUse,
  type DenyOutcome,
  type EnrolOutcome,
  EXPIRED_RETENTION_SECONDS,
  MAX_POLL_INTERVAL_SECONDS,
  type VoteOutcome,
} from './store.js'
import {
  approvalIdInUse,
  assertCounter,
  assertCreatableRequest,
  assertRetentionSeconds,
  compareCredentials,
  counterRegressed,
  jsonCopy,
} from './store-rules.js'
import type {
  ApprovalDenial,
  ApprovalEvidence,
  ApprovalRecord,
  ApprovalRequest,
  ApprovalStatus,
  ApprovalVote,
  ApproverCredential,
  ApproverCredentialState,
  CredentialFlag,
  EnrolmentInvite,
  RegistrationChallenge,
  StoredChallenge,
} from './types.js'

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

    async createRequest(request: ApprovalRequest): Promise<void> {
      ensureOpen()
      const now = clock()
      assertCreatableRequest(request, now)
      // Ensure an approval id is never reused.
      if (entry(request.id)) throw approvalIdInUse()
      requests.set(request.id, {
        request: jsonCopy(request),
        status: request.requirements.length === 0 ? 'approved' : 'pending',
        votes: [],
        intervalSeconds: request.intervalSeconds,
        challenges: new Map(),
        retainUntilMs: (request.expiresAt + EXPIRED_RETENTION_SECONDS) * 1000,
      })
      wrote()
    },

    async getRequest(id: string): Promise<ApprovalRecord | null> {
      ensureOpen()
      const e = entry(id)
      if (!e) return null
      return jsonCopy({
        request: e.request,
        status: e.status,
        votes: e.votes,
        ...(e.denial ? { denial: e.denial } : {}),
      })
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
