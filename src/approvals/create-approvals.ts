import { isIP } from 'node:net'
import type { Auditor } from '../audit/create-auditor.js'
import type { Clock } from '../clock.js'
import { type Config, ConfigError } from '../config.js'
import type { LockStore } from '../locks/store.js'
import type { Logger } from '../logger.js'
import type { Policy } from '../policy/index.js'
import { perPolicy } from '../policy/live-policy.js'
import type { StoreBackend } from '../store/store-backend.js'
import type { AttestationPolicy } from './enrolment/check-attestation.js'
import type { ApprovalDeps, ApprovalSettings } from './deps.js'
import { loadTrustAnchors } from './enrolment/load-trust-anchors.js'
import { createMemoryApprovalStore } from './store/memory-store.js'
import { createApprovalNotifier, type WebhookTarget } from './requests/notify-approvers.js'
import { isHttpsUrl } from '../policy/is-https-url.js'
import { createRedisApprovalStore } from './store/redis-store.js'

export interface CreateApprovalsOptions {
  config: Config
  /** The policy in force (it changes live: read when needed). */
  policy: () => Policy
  /** What the store lives on: on Redis, the approval store shares its connection and prefix. */
  backend: StoreBackend
  /** Locks, which refuse approvals for a locked client, task or approver. */
  locks: LockStore
  clock: Clock
  logger: Logger
  /** Environment, for webhook secrets and Slack URLs (`approver_groups[].webhook.secret_env`, `.url_env`). */
  env: Readonly<Record<string, string | undefined>>
  /** For webhooks. */
  fetch: typeof fetch
  /** Reads trust anchor files. */
  readFile: (path: string) => string
  /** Where approval decisions, enrolments and flagged keys are audited. */
  audit: Pick<Auditor, 'record' | 'note'>
}

/** The approval dependencies, plus what the broker must stop on shutdown. */
export interface Approvals extends ApprovalDeps {
  close(): Promise<void>
}

/**
 * The webhooks of each approver group of `policy`, with what they take from `env` (a signed
 * webhook's secret, a Slack URL given by `url_env`), and a problem for each one `env` cannot
 * complete: a policy with any is refused, at boot and when it would take force live.
 */
export function webhookTargets(
  policy: Policy,
  env: Readonly<Record<string, string | undefined>>,
): { targets: ReadonlyMap<string, WebhookTarget[]>; problems: string[] } {
  const targets = new Map<string, WebhookTarget[]>()
  const problems: string[] = []
  for (const group of policy.approverGroups.values()) {
    const list: WebhookTarget[] = []
    for (const webhook of group.webhooks) {
      if (webhook.format === 'signed') {
        const secret = env[webhook.secretEnv]
        // Ensure every writ-format webhook is signed: one without its secret is refused.
        if (!secret) {
          problems.push(
            `approver_groups ${group.id}: webhook.secret_env ${webhook.secretEnv} is not set in the environment`,
          )
          continue
        }
        list.push({ format: 'signed', url: webhook.url, secret })
        continue
      }
      const url = webhook.url ?? env[webhook.urlEnv]
      if (!url) {
        problems.push(`approver_groups ${group.id}: webhook.url_env ${webhook.urlEnv} is not set in the environment`)
        continue
      }
      // Ensure a URL from the environment meets the policy's rule for webhook URLs.
      if (!isHttpsUrl(url)) {
        problems.push(
          `approver_groups ${group.id}: webhook.url_env ${webhook.urlEnv}: expected an https URL (http only for localhost)`,
        )
        continue
      }
      list.push({ format: 'slack', url })
    }
    if (list.length > 0) targets.set(group.id, list)
  }
  return { targets, problems }
}

/** The WebAuthn relying party, from config or the issuer; checked so browsers will accept it. */
function resolveSettings(config: Config, problems: string[]): ApprovalSettings {
  const a = config.approvals
  const issuer = new URL(config.issuer)
  const origin = a.origin ? new URL(a.origin).origin : issuer.origin
  const originHost = new URL(origin).hostname
  const rpId = (a.rpId ?? issuer.hostname).toLowerCase()
  // Ensure the RP ID is one a browser accepts: a domain (never an IP address) the origin is in.
  if (isIP(rpId.replace(/^\[|\]$/g, '')) !== 0) {
    problems.push(
      `approvals.rpId: ${rpId} is an IP address, which WebAuthn does not allow; use a host name (http://localhost:PORT for local trials)`,
    )
  } else if (originHost !== rpId && !originHost.endsWith(`.${rpId}`)) {
    problems.push(`approvals.rpId: ${rpId} must be the origin's host (${originHost}) or a parent domain of it`)
  }
  // Ensure the ceremonies run in a secure context: https, or http on localhost for local trials.
  if (!origin.startsWith('https://') && originHost !== 'localhost') {
    problems.push(`approvals.origin: ${origin} must be https (http only for localhost): WebAuthn needs a secure context`)
  }
  return {
    baseUrl: config.issuer,
    rpId,
    rpName: a.rpName,
    origin,
    timeoutSeconds: a.timeoutSeconds,
    pollIntervalSeconds: a.pollIntervalSeconds,
    challengeTtlSeconds: a.challengeTtlSeconds,
    inviteTtlSeconds: a.inviteTtlSeconds,
    evidenceRetentionSeconds: a.evidenceRetentionSeconds,
  }
}

/**
 * Builds everything human approval needs from the broker config: the relying party settings, the
 * attestation policy with its trust anchors (read from local files), the approval store (Redis
 * when the store is Redis, sharing its connection; memory otherwise), and the webhook notifier
 * with each group's secret from the environment. Warns, loudly, about relaxed attestation and
 * about a strict broker that cannot enrol any key yet.
 *
 * A broker whose RP ID or origin a browser would refuse still boots (so agents keep getting the
 * tokens that need no human), with an error logged: the approval pages will not work until it is
 * fixed.
 *
 * @throws ConfigError listing every problem: unreadable or untrusted trust anchor files, webhook
 *   secrets missing from the environment.
 */
export async function createApprovals(options: CreateApprovalsOptions): Promise<Approvals> {
  const { config, policy, clock, logger } = options
  const problems: string[] = []
  const rpProblems: string[] = []
  const settings = resolveSettings(config, rpProblems)
  for (const problem of rpProblems) logger.warn(`approval pages will not work: ${problem}`)

  const targetsOf = perPolicy((p) => webhookTargets(p, options.env))
  problems.push(...targetsOf(policy()).problems)

  const { attestation: a } = config.approvals
  let trust
  try {
    trust = await loadTrustAnchors({
      rootCertificateFiles: a.rootCertificateFiles,
      mdsBlobFile: a.mdsBlobFile,
      mdsRootCertificateFile: a.mdsRootCertificateFile,
      readFile: options.readFile,
      clock,
    })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    problems.push(...err.problems)
  }
  if (problems.length > 0 || !trust) throw new ConfigError(problems)
  for (const warning of trust.warnings) logger.warn(warning)

  const attestation: AttestationPolicy = {
    mode: a.mode === 'dev' ? 'relaxed' : 'strict',
    allowedAaguids: new Set(a.allowedAaguids.map((id) => id.toLowerCase())),
    trust,
  }
  if (attestation.mode === 'relaxed') {
    logger.warn(
      'DEV MODE: security key attestation is NOT verified (none, self and unanchored attestation accepted, any AAGUID); approvals prove only that someone holding an enrolled key approved. Never use approvals.attestation.mode dev in production',
    )
  } else if (attestation.allowedAaguids.size === 0 || (trust.roots.length === 0 && trust.metadata.size === 0)) {
    logger.warn(
      'approvals: no security key can be enrolled until approvals.attestation.allowedAaguids and a trust anchor (rootCertificateFiles or mdsBlobFile) are configured',
    )
  }

  const { backend } = options
  const store =
    backend.kind === 'redis'
      ? createRedisApprovalStore({
          redis: backend.redis,
          keyPrefix: backend.keys.prefix,
          clock,
          firstConnection: backend.firstConnection,
        })
      : createMemoryApprovalStore({ clock })
  const notifier = createApprovalNotifier({
    targets: () => targetsOf(policy()).targets,
    baseUrl: settings.baseUrl,
    fetch: options.fetch,
    clock,
    logger,
    maxAttempts: config.approvals.webhook.maxAttempts,
    initialBackoffMs: config.approvals.webhook.initialBackoffMs,
    timeoutMs: config.approvals.webhook.timeoutMs,
  })
  return {
    store,
    policy,
    clock,
    settings,
    attestation,
    notifier,
    logger,
    audit: options.audit,
    locks: options.locks,
    async close() {
      notifier.close()
      await store.close()
    },
  }
}
