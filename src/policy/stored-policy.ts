import type { KeyObject } from 'node:crypto'
import type { Auditor } from '../audit/create-auditor.js'
import type { AuditActor } from '../audit/types.js'
import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { SettingsStore } from '../store/settings-store.js'
import type { LivePolicy, PolicyInForce } from './live-policy.js'
import { type PolicyCheck, preparePolicy } from './prepare-policy.js'
import { openPolicy, sealPolicy, UntrustedPolicyError } from './seal-policy.js'
import { PolicyError } from './types.js'

/** The name of the stored policy among the store's replaceable settings. */
export const POLICY_SETTING = 'policy'

/**
 * How often each replica polls the stored policy's version. A policy applied on one replica is in
 * force on every other replica that can reach the store within two periods (2 s): one to see the
 * new version, one to read, check and put it in force.
 */
export const POLICY_POLL_MS = 1000

/** What `source: the stored policy` is called in problems and logs. */
const STORED = 'the stored policy'

export interface StoredPolicyDeps {
  settings: SettingsStore
  /** The KEK: the stored policy is sealed (HMAC-SHA256) under a key derived from it. */
  kek: KeyObject
  /** The broker's issuer, bound into every sealed policy. */
  issuer: string
  check: PolicyCheck
  audit: Pick<Auditor, 'note'>
  logger: Logger
  clock: Clock
}

/** What `writ policy apply` put in force. */
export interface AppliedPolicy {
  hash: string
  previousHash: string
  generation: number
}

/**
 * The stored policy at start: the one in the store, or, when none is stored yet, `seed()` (the
 * policy file) stored as generation 1. A stored policy that does not authenticate under the KEK or
 * is not valid here stops the start (there is no earlier policy to keep).
 *
 * @throws PolicyError listing every problem.
 */
export async function loadStoredPolicy(
  deps: StoredPolicyDeps,
  seed: () => { text: string; source: string },
): Promise<PolicyInForce> {
  for (;;) {
    const stored = await deps.settings.getVersionedSetting(POLICY_SETTING)
    if (stored) {
      let body
      try {
        body = openPolicy(deps.kek, deps.issuer, stored.data)
      } catch (err) {
        if (!(err instanceof UntrustedPolicyError)) throw err
        throw new PolicyError([`version ${stored.version}: ${err.message}`], STORED)
      }
      const prepared = preparePolicy(body.text, { source: STORED, check: deps.check })
      return { ...prepared, origin: 'store', generation: body.generation, since: deps.clock() }
    }
    const { text, source } = seed()
    const prepared = preparePolicy(text, { source, check: deps.check })
    const sealed = sealPolicy(deps.kek, { issuer: deps.issuer, generation: 1, text })
    if (await deps.settings.putVersionedSetting(POLICY_SETTING, sealed, null)) {
      deps.logger.info('policy file stored as the policy every replica follows', { source, hash: prepared.hash })
      return { ...prepared, origin: 'store', generation: 1, since: deps.clock() }
    }
    // Another replica stored its seed first: that one is in force.
  }
}

/**
 * `writ policy apply`: validates `text` (every problem listed), stores it sealed as the next
 * generation (compare-and-set: an apply that raced another is refused, 409), puts it in force on
 * this replica at once and audits `policy.changed`. Other replicas follow within
 * {@link POLICY_POLL_MS} × 2.
 *
 * @throws PolicyError listing every problem; WritError 409 when another apply won the race.
 */
export async function applyStoredPolicy(
  deps: StoredPolicyDeps & { live: LivePolicy },
  text: string,
  actor: AuditActor,
): Promise<AppliedPolicy> {
  const prepared = preparePolicy(text, { check: deps.check })
  const stored = await deps.settings.getVersionedSetting(POLICY_SETTING)
  const previous = deps.live.latest()
  const generation = Math.max(stored?.version ?? 0, previous.generation ?? 0) + 1
  const sealed = sealPolicy(deps.kek, { issuer: deps.issuer, generation, text })
  // Ensure no apply is lost to another made at the same moment: the write is a compare-and-set.
  if (!(await deps.settings.putVersionedSetting(POLICY_SETTING, sealed, stored?.version ?? null))) {
    throw new WritError('invalid_request', 409, 'the stored policy changed while this one was applied; check it (writ status) and apply again')
  }
  const replaced = deps.live.swap({ ...prepared, origin: 'store', generation, since: deps.clock() })
  deps.logger.info('policy applied', { hash: prepared.hash, previousHash: replaced.hash, generation })
  await deps.audit.note({
    type: 'policy.changed',
    actor,
    old_hash: replaced.hash,
    new_hash: prepared.hash,
    source: 'store',
    generation,
  })
  return { hash: prepared.hash, previousHash: replaced.hash, generation }
}

/** A running follower of the stored policy; `close()` stops it. */
export interface StoredPolicyFollower {
  /** Looks at the store now (the periodic poll calls it; SIGHUP too). */
  poll(): Promise<void>
  close(): void
}

/**
 * Keeps this replica on the stored policy: every {@link POLICY_POLL_MS} it reads the stored
 * version, and when it changed, reads the policy, checks its seal, its generation (never older
 * than the one in force) and its validity here, and puts it in force. A stored policy refused for
 * any of these leaves the policy in force as it is: the refusal is logged with every problem,
 * shown by `/readyz` and audited as `policy.refused`, once per stored version.
 */
export function followStoredPolicy(deps: StoredPolicyDeps & { live: LivePolicy }): StoredPolicyFollower {
  const { live, logger } = deps
  let seenVersion: number | undefined
  let running: Promise<void> | undefined
  let unreachable = false

  const refuse = async (version: number, reason: string, problems: string[], extra: { hash?: string; generation?: number }) => {
    const kept = live.latest()
    live.refuse({ ...extra, problems, at: deps.clock() })
    logger.error('stored policy refused; keeping the policy in force', { version, keptHash: kept.hash, reason, problems })
    await deps.audit.note({ type: 'policy.refused', actor: 'system', reason, version, kept_hash: kept.hash })
  }

  const check = async (): Promise<void> => {
    const version = await deps.settings.settingVersion(POLICY_SETTING)
    if (version === null || version === seenVersion) return
    const stored = await deps.settings.getVersionedSetting(POLICY_SETTING)
    if (!stored) return
    seenVersion = stored.version
    let body
    try {
      body = openPolicy(deps.kek, deps.issuer, stored.data)
    } catch (err) {
      if (!(err instanceof UntrustedPolicyError)) throw err
      return refuse(stored.version, err.message, [err.message], {})
    }
    const inForce = live.latest()
    let prepared
    try {
      prepared = preparePolicy(body.text, { source: STORED, check: deps.check })
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err
      return refuse(stored.version, 'not a valid policy for this broker', err.problems, { generation: body.generation })
    }
    if (prepared.hash === inForce.hash) return
    // Ensure an older sealed policy put back in the store does not undo a newer one.
    if (body.generation <= (inForce.generation ?? 0)) {
      // A newer policy applied here while this one was read is no rollback: read again next time.
      if ((await deps.settings.settingVersion(POLICY_SETTING)) !== stored.version) {
        seenVersion = undefined
        return
      }
      const reason = `generation ${body.generation} is not newer than the policy in force (generation ${inForce.generation ?? 0})`
      return refuse(stored.version, reason, [reason], { hash: prepared.hash, generation: body.generation })
    }
    const replaced = live.swap({ ...prepared, origin: 'store', generation: body.generation, since: deps.clock() })
    logger.info('stored policy now in force', { hash: prepared.hash, previousHash: replaced.hash, generation: body.generation })
  }

  const poll = (): Promise<void> => {
    running ??= check()
      .then(
        () => {
          if (unreachable) logger.info('stored policy readable again')
          unreachable = false
        },
        (err: unknown) => {
          if (!unreachable) {
            logger.warn('cannot read the stored policy; keeping the policy in force', {
              err: err instanceof Error ? err.message : String(err),
            })
          }
          unreachable = true
        },
      )
      .finally(() => {
        running = undefined
      })
    return running
  }

  const timer = setInterval(() => void poll(), POLICY_POLL_MS)
  timer.unref()
  return {
    poll,
    close() {
      clearInterval(timer)
    },
  }
}
