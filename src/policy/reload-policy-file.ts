import { readFileSync } from 'node:fs'
import type { Auditor } from '../audit/create-auditor.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import type { LivePolicy } from './live-policy.js'
import { policyHash } from './policy-hash.js'
import { type PolicyCheck, preparePolicy } from './prepare-policy.js'
import { PolicyError } from './types.js'

export interface ReloadPolicyFileDeps {
  live: LivePolicy
  /** The policy file (WRIT_POLICY). */
  path: string
  check: PolicyCheck
  audit: Pick<Auditor, 'note'>
  logger: Logger
  clock: Clock
  /** Reads the file; default: `readFileSync` as UTF-8. */
  readFile?: (path: string) => string
}

/** What a reload did: put a new policy in force, found the same one, or refused the file. */
export type ReloadOutcome = 'changed' | 'unchanged' | 'refused'

/**
 * Re-reads the policy file (on SIGHUP) and puts it in force when it is valid and different. An
 * unreadable or invalid file changes nothing: the policy in force stays, every problem is logged
 * and `/readyz` shows the refusal. A change is audited as `policy.changed` (actor `system`).
 */
export async function reloadPolicyFile(deps: ReloadPolicyFileDeps): Promise<ReloadOutcome> {
  const { live, path, logger } = deps
  const kept = live.latest()
  let text: string
  try {
    text = (deps.readFile ?? ((p) => readFileSync(p, 'utf8')))(path)
  } catch (err) {
    const problems = [`cannot read the policy file: ${err instanceof Error ? err.message : String(err)}`]
    live.refuse({ problems, at: deps.clock() })
    logger.error('policy file refused; keeping the policy in force', { path, keptHash: kept.hash, problems })
    return 'refused'
  }
  const hash = policyHash(text)
  if (hash === kept.hash) {
    logger.info('policy file unchanged', { path, hash })
    return 'unchanged'
  }
  let prepared
  try {
    prepared = preparePolicy(text, { source: path, check: deps.check })
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err
    // Ensure an invalid file changes nothing: the policy in force stays whole.
    live.refuse({ hash, problems: err.problems, at: deps.clock() })
    logger.error('policy file refused; keeping the policy in force', {
      path,
      hash,
      keptHash: kept.hash,
      problems: err.problems,
    })
    return 'refused'
  }
  const previous = live.swap({ policy: prepared.policy, hash, origin: 'file', since: deps.clock() })
  logger.info('policy file re-read: new policy in force', { path, hash, previousHash: previous.hash })
  await deps.audit.note({ type: 'policy.changed', actor: 'system', old_hash: previous.hash, new_hash: hash, source: 'file' })
  return 'changed'
}
