import {
  DeleteRolePolicyCommand,
  type IAMClient,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam'
import type { Clock } from '../../clock.js'
import { storeUnavailable } from '../../errors.js'
import type { RevocationMessage } from '../../grants/revocation-message.js'
import type { GrantStore } from '../../grants/store.js'
import type { Logger } from '../../logger.js'
import { compileDenyPolicy } from './compile-deny-policy.js'
import type { AwsSessionRecord, DenyEntries, VendedSession } from './session-record.js'

/** How often a compare-and-set or an IAM write is retried when another replica raced it. */
const MAX_ATTEMPTS = 5

/**
 * A cutoff denies sessions issued before `now + this`: AWS stamps `aws:TokenIssueTime` with its
 * own clock, which may run ahead of the broker's; a session issued just before the revocation
 * must not slip past the cutoff. Sessions vended in these seconds are cut too (fail closed).
 */
export const CUTOFF_SKEW_SECONDS = 30

export interface AwsSessionRevokerDeps {
  iam: IAMClient
  record: AwsSessionRecord
  /** Tells revoked grants from live ones when reconciling missed revocations. */
  store: Pick<GrantStore, 'getGrant'>
  /** The configured roles: pruned on every tick even when no session is live. */
  roleArns: readonly string[]
  /** Name of the inline deny policy on each role. */
  policyName: string
  /** Past this size the revoked-session list is replaced by an issue-time cutoff. */
  maxPolicyChars: number
  clock: Clock
  logger: Logger
}

/** Cuts AWS sessions vended under revoked grants. */
export interface AwsSessionRevoker {
  /** Denies every unexpired session vended under these grants (idempotent). */
  onGrantsRevoked(grantIds: readonly string[]): Promise<void>
  /** Handles a message from the revocation channel (`{all: true}` cuts every vended session). */
  onRevocation(message: RevocationMessage): Promise<void>
  /** Denies every unexpired session writ vended, on every role (an issue-time cutoff). */
  revokeAllSessions(): Promise<void>
  /**
   * Finds vended sessions whose grant the store reports revoked and denies them: catches up on
   * revocation messages missed while the subscription was down or the broker was not running.
   */
  reconcile(): Promise<void>
  /**
   * Drops entries whose sessions have expired and brings IAM in line with the shared state:
   * rewrites the deny policy, deletes it when nothing is left, retries writes that failed.
   */
  prune(): Promise<void>
}

const roleName = (roleArn: string): string => roleArn.slice(roleArn.lastIndexOf('/') + 1)

const byName = ([a]: [string, number], [b]: [string, number]): number =>
  a < b ? -1 : a > b ? 1 : 0

const canonical = (entries: DenyEntries): string =>
  JSON.stringify({
    sessions: Object.fromEntries(Object.entries(entries.sessions).sort(byName)),
    cutoff: entries.cutoff ?? null,
  })

function byRole(sessions: readonly VendedSession[]): Map<string, VendedSession[]> {
  const out = new Map<string, VendedSession[]>()
  for (const session of sessions) {
    const list = out.get(session.roleArn) ?? []
    list.push(session)
    out.set(session.roleArn, list)
  }
  return out
}

/**
 * The revoker: maintains one inline deny policy per role (IAM PutRolePolicy) naming the sessions
 * of revoked grants (`aws:userid` like `*:<grant id>`, see compileDenyPolicy), each until its
 * session expires, and deletes the policy once nothing is left to deny.
 *
 * The desired state lives in the shared {@link AwsSessionRecord} (compare-and-set, so replicas
 * handling the same message never lose each other's entries); IAM is then written from the latest
 * state, and the writer re-reads the version afterwards and writes again if another replica
 * changed the state meanwhile, so the last write to IAM is always of the latest state. A failed IAM
 * write leaves the state marked unapplied, and the next {@link AwsSessionRevoker.prune} retries it.
 *
 * When the list would exceed `maxPolicyChars` (IAM allows 10,240 characters of inline policy per
 * role, shared with the role's other inline policies), every listed session is replaced by a
 * cutoff that denies all sessions issued before now (plus {@link CUTOFF_SKEW_SECONDS}) until the
 * last of them expires: innocent sessions are cut too, and their agents must ask again.
 *
 * IAM is eventually consistent: a deny takes effect after IAM propagates it, usually within
 * seconds, with no upper bound AWS commits to. Until then the session keeps working.
 */
export function createAwsSessionRevoker(deps: AwsSessionRevokerDeps): AwsSessionRevoker {
  const { iam, record, clock, logger } = deps
  const nowSeconds = (): number => Math.floor(clock() / 1000)
  const chains = new Map<string, Promise<unknown>>()

  /** Runs `task` after every earlier task for the same role in this process. */
  const serial = <T>(roleArn: string, task: () => Promise<T>): Promise<T> => {
    const previous = chains.get(roleArn) ?? Promise.resolve()
    const next = previous.then(task, task)
    const settled = next.catch(() => undefined)
    chains.set(roleArn, settled)
    void settled.then(() => {
      if (chains.get(roleArn) === settled) chains.delete(roleArn)
    })
    return next
  }

  const prunedEntries = (entries: DenyEntries, now: number): DenyEntries => {
    const live = Object.entries(entries.sessions).filter(([, until]) => until > now)
    const sessions = Object.fromEntries(live)
    const { cutoff } = entries
    return cutoff && cutoff.until > now ? { sessions, cutoff } : { sessions }
  }

  /** Replaces the session list by a cutoff when the policy would not fit the budget. */
  const fitted = (entries: DenyEntries, now: number): DenyEntries => {
    const policy = compileDenyPolicy(entries, now)
    if (policy === null || policy.length <= deps.maxPolicyChars) return entries
    const until = Math.max(entries.cutoff?.until ?? 0, ...Object.values(entries.sessions))
    logger.warn('aws deny policy over budget: cutting every session issued before now instead', {
      sessions: Object.keys(entries.sessions).length,
      maxPolicyChars: deps.maxPolicyChars,
    })
    return { sessions: {}, cutoff: { issuedBefore: now + CUTOFF_SKEW_SECONDS, until } }
  }

  /** Writes IAM from the latest state until the state did not change during the write. */
  const sync = async (roleArn: string): Promise<void> => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const state = await record.getDenyState(roleArn)
      if (state.version === state.appliedVersion) return
      const policy = compileDenyPolicy(state, nowSeconds())
      const RoleName = roleName(roleArn)
      if (policy === null) {
        try {
          await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName: deps.policyName }))
        } catch (err) {
          if (!(err instanceof NoSuchEntityException)) throw err
        }
      } else {
        const put = { RoleName, PolicyName: deps.policyName, PolicyDocument: policy }
        await iam.send(new PutRolePolicyCommand(put))
      }
      const latest = await record.getDenyState(roleArn)
      // Ensure the policy written is of the latest state; another replica may have changed it.
      if (latest.version === state.version) {
        await record.markApplied(roleArn, state.version)
        logger.info('aws deny policy written', {
          roleArn,
          version: state.version,
          revokedSessions: policy === null ? 0 : Object.keys(state.sessions).length,
          cutoff: state.cutoff ?? null,
          deleted: policy === null,
        })
        return
      }
    }
    throw storeUnavailable(
      new Error(`the deny state of ${roleArn} kept changing while it was written to IAM`),
    )
  }

  /** Compare-and-set of a role's entries (expired ones dropped), then IAM. */
  const update = (roleArn: string, mutate: (entries: DenyEntries, now: number) => DenyEntries) =>
    serial(roleArn, async () => {
      let stored = false
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !stored; attempt++) {
        const state = await record.getDenyState(roleArn)
        const now = nowSeconds()
        const next = fitted(mutate(prunedEntries(state, now), now), now)
        if (canonical(next) === canonical(state)) break
        stored = await record.putDenyState(roleArn, next, state.version)
        if (!stored && attempt === MAX_ATTEMPTS - 1) {
          throw storeUnavailable(new Error(`the deny state of ${roleArn} kept changing`))
        }
      }
      await sync(roleArn)
    })

  const denySessions = async (sessions: readonly VendedSession[]): Promise<void> => {
    const roles = byRole(sessions)
    await Promise.all(
      [...roles].map(([roleArn, list]) =>
        update(roleArn, (entries) => {
          const next = { ...entries, sessions: { ...entries.sessions } }
          for (const s of list) {
            next.sessions[s.grantId] = Math.max(next.sessions[s.grantId] ?? 0, s.expiresAt)
          }
          return next
        }),
      ),
    )
  }

  const revoker: AwsSessionRevoker = {
    async onGrantsRevoked(grantIds) {
      if (grantIds.length === 0) return
      await denySessions(await record.sessionsOf(grantIds))
    },

    async onRevocation(message) {
      // A key-set change revokes no session by itself (a compromised-key rotation also revokes
      // every grant, announced on its own).
      if ('keys' in message) return
      if ('all' in message) return revoker.revokeAllSessions()
      return revoker.onGrantsRevoked(message.grants.map((g) => g.id))
    },

    async revokeAllSessions() {
      const roles = byRole(await record.listSessions())
      await Promise.all(
        [...roles].map(([roleArn, list]) =>
          update(roleArn, (entries, now) => {
            const until = Math.max(entries.cutoff?.until ?? 0, ...list.map((s) => s.expiresAt))
            const cutoff = { issuedBefore: now + CUTOFF_SKEW_SECONDS, until }
            return { sessions: entries.sessions, cutoff }
          }),
        ),
      )
    },

    async reconcile() {
      const sessions = await record.listSessions()
      const grants = new Map<string, string>()
      for (const s of sessions) grants.set(s.grantId, s.clientId)
      const revoked: VendedSession[] = []
      for (const [grantId, clientId] of grants) {
        const state = await deps.store.getGrant(clientId, grantId)
        if (state.state !== 'revoked') continue
        revoked.push(...sessions.filter((s) => s.grantId === grantId))
      }
      await denySessions(revoked)
    },

    async prune() {
      const roles = new Set(deps.roleArns)
      for (const s of await record.listSessions()) roles.add(s.roleArn)
      await Promise.all([...roles].map((roleArn) => update(roleArn, (entries) => entries)))
    },
  }
  return revoker
}
