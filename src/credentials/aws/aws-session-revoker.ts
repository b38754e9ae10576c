import {
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  type IAMClient,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam'
import type { Clock } from '../../clock.js'
import { storeUnavailable, WritError } from '../../errors.js'
import type { RevocationMessage } from '../../wire/revocation-message.js'
import type { GrantStore } from '../../grants/store.js'
import type { Logger } from '../../logger.js'
import { compileDenyPolicy } from './compile-deny-policy.js'
import { denyPolicyVersion } from './deny-policy-version.js'
import type { AwsSessionRecord, DenyEntries, VendedSession } from './session-record.js'

/** How often a compare-and-set or an IAM write is retried when another replica raced it. */
const MAX_ATTEMPTS = 5

/** Backoff before reading a written policy back again (IAM reads are eventually consistent). */
const READ_BACK_DELAY_MS = 100

/**
 * One client's revoked sessions may take at most `maxPolicyChars / CLIENT_BUDGET_SHARES` (and at
 * least {@link MIN_CLIENT_SHARE_CHARS}) characters of the deny policy; past that they are replaced
 * by a cutoff on that client's sessions only.
 */
export const CLIENT_BUDGET_SHARES = 8

/** A client's share is never below this: a cutoff statement itself takes about 220 characters. */
export const MIN_CLIENT_SHARE_CHARS = 256

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
  /**
   * Budget of the deny policy: past it (or past a client's share of it, see
   * {@link CLIENT_BUDGET_SHARES}) a client's revoked sessions are replaced by an issue-time cutoff
   * on that client's sessions.
   */
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
   * Drops entries whose sessions have expired and brings IAM in line with the shared state: reads
   * each role's deny policy back and rewrites it (or deletes it when nothing is left) when IAM
   * holds anything else: a write that failed, or a stale one that landed out of order.
   */
  prune(): Promise<void>
}

const roleName = (roleArn: string): string => roleArn.slice(roleArn.lastIndexOf('/') + 1)

const byName = <T>([a]: [string, T], [b]: [string, T]): number => (a < b ? -1 : a > b ? 1 : 0)

const canonical = (entries: DenyEntries): string =>
  JSON.stringify({
    sessions: Object.entries(entries.sessions)
      .sort(byName)
      .map(([name, s]) => [name, s.client, s.until]),
    clientCutoffs: Object.entries(entries.clientCutoffs ?? {}).sort(byName),
    cutoff: entries.cutoff ?? null,
  })

/** JSON with object keys sorted: two documents that parse to the same value compare equal. */
const sortedJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(byName))
      : v,
  )

/** Whether the policy IAM holds is the one compiled (null: no policy). */
function samePolicy(held: string | null, wanted: string | null): boolean {
  if (held === null || wanted === null) return held === wanted
  try {
    return sortedJson(JSON.parse(held)) === sortedJson(JSON.parse(wanted))
  } catch {
    return false
  }
}

/** Characters one revoked session adds to the `aws:userid` list: `"*:<name>",`. */
const entryChars = (name: string): number => JSON.stringify(`*:${name}`).length + 1

/** Client id → characters its revoked sessions take in the policy, for clients with any. */
function clientCosts(entries: DenyEntries): Map<string, number> {
  const costs = new Map<string, number>()
  for (const [name, s] of Object.entries(entries.sessions)) {
    costs.set(s.client, (costs.get(s.client) ?? 0) + entryChars(name))
  }
  return costs
}

/** IAM returns policy documents URL-encoded (RFC 3986); a malformed one is compared as is. */
function urlDecoded(document: string): string {
  try {
    return decodeURIComponent(document)
  } catch {
    return document
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

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
 * handling the same message never lose each other's entries), versioned; the policy written to
 * IAM carries that version. IAM offers no compare-and-set, and two replicas' writes (or a write
 * the SDK retried) may land in either order, so IAM is never trusted to hold what was written:
 * every write is read back (GetRolePolicy) and compared with the policy compiled from the latest
 * state, and rewritten until they match; only then is the version marked applied. Every
 * {@link AwsSessionRevoker.prune} reads every role's policy back again, whatever the state says
 * was applied, so a stale write that lands later still is repaired within one prune interval.
 *
 * Budget: one client's revoked sessions may take at most 1/{@link CLIENT_BUDGET_SHARES} of
 * `maxPolicyChars`, at least {@link MIN_CLIENT_SHARE_CHARS} characters (IAM allows 10,240
 * characters of inline policy per role, shared with the role's other inline policies); past it,
 * that client's entries are replaced by a cutoff that denies the sessions tagged with that client
 * (`aws:PrincipalTag/writ:client`) issued before now (plus {@link CUTOFF_SKEW_SECONDS}) until the
 * last of them expires. Only that client's agents must ask
 * again: an agent that revokes its own sessions in a loop cuts only itself. When the clients
 * together still exceed the budget, the clients with the most entries are cut over first (each
 * only if that shrinks the policy); a role-wide cutoff is left only for when nothing else fits.
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
    const sessions = Object.fromEntries(
      Object.entries(entries.sessions).filter(([, s]) => s.until > now),
    )
    const clients = Object.entries(entries.clientCutoffs ?? {}).filter(([, c]) => c.until > now)
    const { cutoff } = entries
    return {
      sessions,
      ...(clients.length > 0 ? { clientCutoffs: Object.fromEntries(clients) } : {}),
      ...(cutoff && cutoff.until > now ? { cutoff } : {}),
    }
  }

  /**
   * Replaces one client's listed sessions by a cutoff on that client's sessions (a role-wide one
   * for entries of an unknown client).
   */
  const cutOver = (entries: DenyEntries, client: string, now: number): DenyEntries => {
    const sessions: DenyEntries['sessions'] = {}
    let until = 0
    for (const [name, s] of Object.entries(entries.sessions)) {
      if (s.client !== client) sessions[name] = s
      else until = Math.max(until, s.until)
    }
    const issuedBefore = now + CUTOFF_SKEW_SECONDS
    if (client === '') {
      until = Math.max(until, entries.cutoff?.until ?? 0)
      return { ...entries, sessions, cutoff: { issuedBefore, until } }
    }
    until = Math.max(until, entries.clientCutoffs?.[client]?.until ?? 0)
    const clientCutoffs = { ...entries.clientCutoffs, [client]: { issuedBefore, until } }
    return { ...entries, sessions, clientCutoffs }
  }

  const policyChars = (entries: DenyEntries, now: number, version: number): number =>
    compileDenyPolicy(entries, now, version)?.length ?? 0

  /**
   * Keeps each client within its share of the budget, then the whole policy within the budget:
   * cuts over the clients with the most entries first, each only if that makes the policy
   * smaller (a cutoff statement costs about as much as ten listed sessions); a role-wide cutoff
   * only when nothing else fits.
   */
  const fitted = (entries: DenyEntries, now: number, version: number): DenyEntries => {
    let next = entries
    const cut = (client: string, why: string, sessions: number): void => {
      logger.warn(`aws deny policy: ${why}; cutting the client's sessions issued before now`, {
        client,
        sessions,
        maxPolicyChars: deps.maxPolicyChars,
      })
      next = cutOver(next, client, now)
    }
    const count = (client: string): number =>
      Object.values(next.sessions).filter((s) => s.client === client).length
    const share = Math.max(
      MIN_CLIENT_SHARE_CHARS,
      Math.floor(deps.maxPolicyChars / CLIENT_BUDGET_SHARES),
    )
    // Ensure no client's revocations take more than its share: one client cannot crowd out others.
    for (const [client, chars] of clientCosts(next)) {
      if (client !== '' && chars > share) cut(client, 'a client over its share', count(client))
    }
    for (;;) {
      const size = policyChars(next, now, version)
      if (size <= deps.maxPolicyChars) return next
      // Ensure the policy fits: the clients with the most listed sessions are cut over first.
      const clients = [...clientCosts(next)].sort((a, b) => b[1] - a[1] || byName(a, b))
      const shrinking = clients.find(
        ([client]) => policyChars(cutOver(next, client, now), now, version) < size,
      )
      if (shrinking) {
        cut(shrinking[0], 'over budget', count(shrinking[0]))
        continue
      }
      const untils = [
        next.cutoff?.until ?? 0,
        ...Object.values(next.clientCutoffs ?? {}).map((c) => c.until),
        ...Object.values(next.sessions).map((s) => s.until),
      ]
      logger.error('aws deny policy over budget even with a cutoff per client: cutting all', {
        clients: Object.keys(next.clientCutoffs ?? {}).length,
        maxPolicyChars: deps.maxPolicyChars,
      })
      const cutoff = { issuedBefore: now + CUTOFF_SKEW_SECONDS, until: Math.max(...untils) }
      return { sessions: {}, cutoff }
    }
  }

  /** The role's deny policy as IAM holds it, or null when there is none. */
  const readPolicy = async (RoleName: string): Promise<string | null> => {
    try {
      const get = new GetRolePolicyCommand({ RoleName, PolicyName: deps.policyName })
      const out = await iam.send(get)
      return out.PolicyDocument === undefined ? null : urlDecoded(out.PolicyDocument)
    } catch (err) {
      if (err instanceof NoSuchEntityException) return null
      throw err
    }
  }

  /**
   * Brings IAM in line with the latest shared state: reads the policy back, and writes and reads
   * back again until IAM holds what the latest state compiles to ({@link MAX_ATTEMPTS} writes at
   * most). Marks the version applied only once a read-back showed it.
   */
  const sync = async (roleArn: string): Promise<void> => {
    const RoleName = roleName(roleArn)
    let written = 0
    for (;;) {
      // IAM reads are eventually consistent: a read right after a write may miss it.
      if (written > 1) await sleep(READ_BACK_DELAY_MS * written)
      const state = await record.getDenyState(roleArn)
      const policy = compileDenyPolicy(state, nowSeconds(), state.version)
      const held = await readPolicy(RoleName)
      // Ensure IAM holds the latest state, read back: a replica's write may land out of order.
      if (samePolicy(held, policy)) {
        if (state.appliedVersion !== state.version) {
          await record.markApplied(roleArn, state.version)
          logger.info('aws deny policy written', {
            roleArn,
            version: state.version,
            revokedSessions: policy === null ? 0 : Object.keys(state.sessions).length,
            clientCutoffs: Object.keys(state.clientCutoffs ?? {}),
            cutoff: state.cutoff ?? null,
            deleted: policy === null,
          })
        }
        return
      }
      if (written === MAX_ATTEMPTS) {
        const message = 'AWS IAM did not take the deny policy'
        throw new WritError('temporarily_unavailable', 503, message, {
          detail: `IAM did not show the latest deny policy of ${roleArn} after ${written} writes`,
          retryAfterSeconds: 2,
        })
      }
      if (written === 0 && state.appliedVersion === state.version) {
        logger.warn('aws deny policy in IAM differs from the applied state: rewriting it', {
          roleArn,
          version: state.version,
          heldVersion: denyPolicyVersion(held),
        })
      }
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
      written++
    }
  }

  /** Compare-and-set of a role's entries (expired ones dropped), then IAM. */
  const update = (roleArn: string, mutate: (entries: DenyEntries, now: number) => DenyEntries) =>
    serial(roleArn, async () => {
      let stored = false
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !stored; attempt++) {
        const state = await record.getDenyState(roleArn)
        const now = nowSeconds()
        const next = fitted(mutate(prunedEntries(state, now), now), now, state.version + 1)
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
            const until = Math.max(next.sessions[s.grantId]?.until ?? 0, s.expiresAt)
            next.sessions[s.grantId] = { client: s.clientId, until }
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
            return { ...entries, cutoff }
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
