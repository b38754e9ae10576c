import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Approvals, createApprovals, webhookTargets } from './approvals/create-approvals.js'
import type { ApprovalStore } from './approvals/store/store.js'
import { createEnrolmentInvite, type CreatedInvite } from './approvals/enrolment/create-enrolment-invite.js'
import { bootstrapAdminToken, createAdminAuthenticator } from './admin/index.js'
import { createApprovalRequest } from './approvals/requests/create-approval-request.js'
import type { AuditLog } from './audit/audit-log.js'
import { type Auditor, createAuditor } from './audit/create-auditor.js'
import { keyRotatedEvent } from './tokens/key-rotated-event.js'
import { keySetRefusedEvent } from './tokens/key-set-refused-event.js'
import { openAuditLog } from './audit/open-audit-log.js'
import { auditClientAuthentication } from './client-auth/audit-client-authentication.js'
import { createClientAuthenticator, rateLimitClients } from './client-auth/index.js'
import { type Clock, systemClock } from './clock.js'
import type { Config } from './config.js'
import {
  type AwsCredentials,
  type AwsVending,
  createAwsVending,
  validateAwsGrants,
} from './credentials/aws/index.js'
import { dpopNonceSecret } from './dpop/dpop-nonce-secret.js'
import { createTokenEndpointDpop } from './dpop/token-endpoint-dpop.js'
import { createSubjectTokenVerifier } from './delegation/verify-subject-token.js'
import { validateMcpGrants } from './mcp/validate-mcp-grants.js'
import { createAuthorizationStore } from './authorization/index.js'
import { createInboxStore } from './approvals/inbox/create-inbox-store.js'
import type { IssueGrantDeps } from './grants/issue-grant.js'
import { createRateLimiter } from './limits/create-rate-limiter.js'
import type { Logger } from './logger.js'
import { createMemoryStore, createRedisStore, type Store } from './open-store.js'
import { createLivePolicy, type LivePolicy, perPolicy, type PolicyInForce } from './policy/live-policy.js'
import { createRequestScopes } from './request-scope.js'
import { type PolicyCheck, preparePolicy } from './policy/prepare-policy.js'
import { reloadPolicyFile, type ReloadOutcome } from './policy/reload-policy-file.js'
import {
  type AppliedPolicy,
  applyStoredPolicy,
  followStoredPolicy,
  loadStoredPolicy,
  type StoredPolicyDeps,
  type StoredPolicyFollower,
} from './policy/stored-policy.js'
import { importKek } from './tokens/seal-key-set.js'
import type { AuditActor } from './audit/types.js'
import { PolicyError } from './policy/index.js'
import type { SubjectTokenVerifier } from './delegation/verify-subject-token.js'
import { createTelemetry, type Telemetry } from './observability/create-telemetry.js'
import { createApp } from './server/create-app.js'
import { createMetricsApp } from './server/create-metrics-app.js'
import type { Tracer } from '@opentelemetry/api'
import { followKeySetChanges } from './tokens/follow-key-set-changes.js'
import {
  createKeyManager,
  type KeyManager,
  type KeyRotation,
  type UntrustedKeySetAlarm,
} from './tokens/index.js'

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export function readOpenApiDocument(): string {
  return readFileSync(resolve(PACKAGE_ROOT, 'openapi.yaml'), 'utf8')
}

export interface BrokerOptions {
  logger: Logger
  clock?: Clock
  /** Use this store instead of building one from config (tests share one). */
  store?: Store
  /** Use this policy text (YAML) instead of reading config.policyFile (tests). */
  policyText?: string
  /** Environment variables: webhook secrets named by the policy's `secret_env`. Default: none. */
  env?: Readonly<Record<string, string | undefined>>
  /** HTTP client for approval webhooks. Default: the platform fetch. */
  fetch?: typeof fetch
  /** The broker's own AWS credentials (default: the AWS SDK's standard provider chain). */
  awsCredentials?: AwsCredentials
  /** Use this audit log instead of opening one beside the store (tests). */
  auditLog?: AuditLog
  /** Where `audit.stdout` writes event lines. Default: process.stdout. */
  stdout?: (line: string) => void
  /** The tracer spans go to; false: no spans. Default: the global OpenTelemetry API's (a no-op without an SDK). */
  tracer?: Tracer | false
}

export interface Broker {
  app: ReturnType<typeof createApp>
  store: Store
  /** The policy in force on this replica (it changes live: `docs/policy.md`). */
  policy: LivePolicy
  /**
   * SIGHUP: re-reads the policy file (`policySource: file`), or looks at the stored policy at once
   * (`policySource: store`). An invalid policy changes nothing.
   */
  reloadPolicy(): Promise<ReloadOutcome>
  /** `writ policy apply` (`policySource: store` only): validates, stores and puts in force `text`. */
  applyPolicy?: (text: string, actor: AuditActor) => Promise<AppliedPolicy>
  keys: KeyManager
  /** Approval requests, enrolled security keys and approval evidence. */
  approvals: ApprovalStore
  /** AWS credential vending, when `config.aws` is set. */
  aws?: AwsVending
  /** The admin token this start bootstrapped (first start of the store): show it once. */
  adminToken?: string
  /** The audit trail (its `log` is undefined when `audit.enabled` is false). */
  audit: Auditor
  /** The app of the metrics listener, when `metrics.listen` names one (`GET /metrics` only). */
  metricsApp?: ReturnType<typeof createMetricsApp>
  /** Metrics (its `metrics` undefined when `metrics.enabled` is false) and tracing. */
  telemetry: Telemetry
  /** Whether enrolment accepts keys without verified attestation (dev mode). */
  devAttestation: boolean
  /** A one-time enrolment invite made by the broker itself (`writ serve --dev` prints one). */
  inviteApprover(approver: string, group: string): Promise<CreatedInvite>
  /** Stops background work and closes the store (when the broker opened it). */
  close(): Promise<void>
}

/** Key refresh period: picks up rotations made by other replicas and rotates when due. */
const KEY_REFRESH_MS = 30_000

/** Builds every dependency from a validated config and wires the HTTP app. */
export async function createBroker(config: Config, options: BrokerOptions): Promise<Broker> {
  const clock = options.clock ?? systemClock
  const { logger } = options
  const env = options.env ?? {}
  const ownsStore = !options.store
  // One request scope for the broker: the policy pin and the request's span share it.
  const scopes = createRequestScopes<PolicyInForce>()
  const telemetry = createTelemetry({ config, logger, clock, tracer: options.tracer, scopes })
  const builtStore =
    options.store ??
    (config.store.kind === 'redis'
      ? createRedisStore({
          topology: {
            url: config.store.redisUrl,
            sentinels: config.store.sentinels,
            sentinelName: config.store.sentinelName,
            clusterNodes: config.store.clusterNodes,
            username: config.store.username,
            password: config.store.password,
          },
          keyPrefix: config.store.keyPrefix,
          commandTimeoutMs: config.store.commandTimeoutMs,
          minReplicasAcked: config.store.minReplicasAcked,
          clock,
        })
      : createMemoryStore({ clock }))
  // Every port of the store is timed and traced by its name; consumers only ever see these.
  const store = telemetry.instrumentStore(builtStore, 'store', {
    grants: 'grants',
    locks: 'locks',
    once: 'once',
    settings: 'settings',
    keySets: 'key_sets',
    revocations: 'revocations',
  })

  let audit: Auditor | undefined
  // Scheduled rotations this replica makes are audited; one made at init, before the auditor
  // exists (the auditor signs checkpoints with these keys), waits for it.
  const earlyRotations: KeyRotation[] = []
  const onRotated = (rotation: KeyRotation): void => {
    if (audit) void audit.note(keyRotatedEvent('system', rotation))
    else earlyRotations.push(rotation)
  }
  // The alarm for a stored key set that does not authenticate: logged, and audited (one raised at
  // init, before the auditor exists, stops the start anyway and is in the error).
  const onUntrustedKeySet = (alarm: UntrustedKeySetAlarm): void => {
    const what = 'ALARM: the key set in the store does not authenticate; refused, keeping the last good keys'
    logger.error(what, {
      reason: alarm.reason,
      version: alarm.version,
      ...(alarm.keptKid ? { keptKid: alarm.keptKid } : {}),
    })
    if (audit) void audit.note(keySetRefusedEvent(alarm))
  }
  const keys = createKeyManager({
    alg: config.keys.alg,
    source: config.keys.source,
    store: store.keySets,
    ...(config.keys.kek ? { kek: config.keys.kek } : {}),
    ...(config.keys.files ? { files: config.keys.files } : {}),
    rotationSeconds: config.keys.rotationSeconds,
    maxTokenTtlSeconds: config.tokens.maxTtlSeconds,
    issuer: config.issuer,
    clock,
    onRotated,
    onUntrustedKeySet,
  })
  let approvals: Approvals
  let adminToken: string | undefined
  let live: LivePolicy
  let stored: (StoredPolicyDeps & { live?: LivePolicy }) | undefined
  const readPolicyText = (): string => {
    try {
      return options.policyText ?? readFileSync(config.policyFile, 'utf8')
    } catch (err) {
      throw new PolicyError([`cannot read the policy file: ${err instanceof Error ? err.message : String(err)}`], config.policyFile)
    }
  }
  // What a policy must pass on this broker besides its own validity, at start and live alike.
  const checkPolicy: PolicyCheck = (p) => webhookTargets(p, env).problems
  const storedPolicyDeps = (c: Config, s: Store, a: Auditor): StoredPolicyDeps | undefined =>
    c.policySource === 'store'
      ? { settings: s.settings, kek: importKek(c.keys.kek!), issuer: c.issuer, check: checkPolicy, audit: a, logger, clock }
      : undefined
  try {
    await keys.init()
    audit = telemetry.observeAuditor(createAuditor({
      log: telemetry.observeAuditLog(
        options.auditLog ??
        openAuditLog({
          settings: config.audit,
          issuer: config.issuer,
          backend: store.backend,
          signer: keys,
          clock,
          stdout: options.stdout ?? ((line) => void process.stdout.write(line + '\n')),
          commandTimeoutMs: config.store.commandTimeoutMs,
        })),
      logger,
      clock,
      repeatWindowSeconds: config.audit.authFailureWindowSeconds,
    }))
    if (!audit.enabled) {
      logger.warn('auditing is off (audit.enabled: false): no decision is recorded')
    }
    for (const rotation of earlyRotations.splice(0)) void audit.note(keyRotatedEvent('system', rotation))
    ;({ config, token: adminToken } = await bootstrapAdminToken(config, store.settings))
    stored = storedPolicyDeps(config, store, audit)
    live = createLivePolicy(
      stored
        ? await loadStoredPolicy(stored, () => ({ text: readPolicyText(), source: config.policyFile }))
        : { ...preparePolicy(readPolicyText(), { source: config.policyFile, check: checkPolicy }), origin: 'file', since: clock() },
      scopes,
    )
    approvals = await createApprovals({
      config,
      policy: live.current,
      backend: store.backend,
      locks: store.locks,
      clock,
      logger,
      env,
      fetch: options.fetch ?? globalThis.fetch,
      readFile: (path) => readFileSync(path, 'utf8'),
      audit,
    })
    approvals = { ...approvals, store: telemetry.instrumentStore(approvals.store, 'approvals') }
    telemetry.readFrom({ store: store.grants, approvals: approvals.store, keys, policy: live.current })
  } catch (err) {
    await audit?.close()
    if (ownsStore) await store.close()
    throw err
  }

  const clients = createClientAuthenticator({
    // A public client (auth: none) has no credential: it authenticates nowhere, so it can use no
    // endpoint that needs client authentication (only the authorization code flow).
    getClient: (id) => {
      const client = live.current().clients.get(id)
      return client?.auth === 'none' ? undefined : client
    },
    store: store.once,
    issuer: config.issuer,
    tokenEndpoint: `${config.issuer}/oauth/token`,
    clock,
    secretCacheSeconds: config.clientAuth.secretCacheSeconds,
    assertionMaxAgeSeconds: config.clientAuth.assertionMaxAgeSeconds,
    // Ensure failing credentials from one address cost argon2 only within its budget.
    failureBudget: createRateLimiter({
      burst: config.limits.clientAuthFailureBurst,
      perSecond: config.limits.clientAuthFailuresPerMinute / 60,
      maxKeys: 100_000,
      clock,
    }),
  })

  const aws = config.aws
    ? createAwsVending({
        settings: config.aws,
        store: store.grants,
        revocations: store.revocations,
        backend: store.backend,
        clock,
        logger,
        audit,
        ...(options.awsCredentials ? { credentials: options.awsCredentials } : {}),
      })
    : undefined
  await aws?.start()

  const nonceKey = dpopNonceSecret({ nonceSecret: config.dpop.nonceSecret, kek: config.keys.kek })
  if (!nonceKey.shared && config.store.kind === 'redis' && config.dpop.requireNonce) {
    logger.warn(
      'DPoP nonces use a per-process secret: replicas refuse each other\'s nonces; set dpop.nonceSecret or keys.kek',
    )
  }
  const issue: IssueGrantDeps = {
    policy: live.current,
    store: store.grants,
    keys,
    issuer: config.issuer,
    tokens: config.tokens,
    clock,
    // Ensure a malformed `type: aws` or `type: mcp` grant is refused before it is minted into a
    // token, whether or not this broker vends AWS credentials.
    validateDetails: [validateAwsGrants, validateMcpGrants],
    audit,
    requestApproval: (input) => createApprovalRequest(approvals, input),
    ...(telemetry.tracer ? { signing: telemetry.traceSigning } : {}),
  }
  const subjectTokenVerifier = perPolicy(
    (p): SubjectTokenVerifier => createSubjectTokenVerifier(p, { clock }),
  )
  const followed = stored ? { ...stored, live } : undefined
  const applyPolicy = followed
    ? (text: string, actor: AuditActor) => applyStoredPolicy(followed, text, actor)
    : undefined
  const follower: StoredPolicyFollower | undefined = followed ? followStoredPolicy(followed) : undefined
  const reloadPolicy = async (): Promise<ReloadOutcome> => {
    if (!follower) {
      return reloadPolicyFile({ live, path: config.policyFile, check: checkPolicy, audit, logger, clock })
    }
    const before = live.latest().hash
    await follower.poll()
    return live.latest().hash === before ? (live.refused() ? 'refused' : 'unchanged') : 'changed'
  }
  const app = createApp({
    ...(aws ? { aws } : {}),
    config,
    policy: live,
    ...(applyPolicy ? { applyPolicy } : {}),
    store: store.grants,
    once: store.once,
    storeHealth: store,
    keys,
    // Ensure every failed client authentication, on any route, leaves an audit event, and every
    // authenticated client stays within its request rate (config.limits).
    clients: rateLimitClients(
      auditClientAuthentication(clients, audit),
      createRateLimiter({
        burst: config.limits.clientBurst,
        perSecond: config.limits.clientRequestsPerSecond,
        maxKeys: 100_000,
        clock,
      }),
    ),
    clock,
    logger,
    openapi: readOpenApiDocument(),
    approvals,
    inbox: {
      store: createInboxStore(store.backend, clock),
      approvals,
      sessionSeconds: config.approvals.inboxSessionSeconds,
    },
    audit,
    telemetry,
    // Ensure wrong admin tokens from one address cost argon2 only within that address's budget.
    admin: createAdminAuthenticator({
      tokenHash: config.admin.tokenHash,
      clock,
      cacheSeconds: config.admin.tokenCacheSeconds,
      failureBudget: createRateLimiter({
        burst: config.limits.adminAuthFailureBurst,
        perSecond: config.limits.adminAuthFailuresPerMinute / 60,
        maxKeys: 100_000,
        clock,
      }),
    }),
    dpop: createTokenEndpointDpop({
      issuer: config.issuer,
      store: store.once,
      clock,
      nonceSecret: nonceKey.secret,
      requireNonce: config.dpop.requireNonce,
      nonceLifetimeSeconds: config.dpop.nonceLifetimeSeconds,
      proofMaxAgeSeconds: config.dpop.proofMaxAgeSeconds,
    }),
    issue,
    // Token exchange on behalf of a person: the policy's trusted identity providers.
    // Each policy gets its own verifier (its issuers, their key caches), built on first use.
    subjectTokens: (token) => subjectTokenVerifier(live.current())(token),
    authorization: {
      store: createAuthorizationStore(store.backend, clock),
      approvals,
      issue,
      grants: store.grants,
      once: store.once,
      issuer: config.issuer,
      maxGrants: config.limits.grants,
    },
  })

  // Replicas sharing keys through the store re-read them as soon as a change is announced.
  const keyFollower =
    config.keys.source === 'store'
      ? followKeySetChanges({ store: store.revocations, keys, logger })
      : undefined
  const refresh = setInterval(() => {
    keyFollower?.ensureSubscribed()
    keys.refresh().catch((err: unknown) => {
      logger.warn('signing key refresh failed; keeping current keys', {
        err: err instanceof Error ? err.message : String(err),
      })
    })
  }, KEY_REFRESH_MS)
  refresh.unref()

  return {
    app,
    store,
    policy: live,
    reloadPolicy,
    ...(applyPolicy ? { applyPolicy } : {}),
    keys,
    approvals: approvals.store,
    ...(aws ? { aws } : {}),
    ...(adminToken ? { adminToken } : {}),
    audit,
    telemetry,
    ...(telemetry.metrics && config.metrics.listen
      ? { metricsApp: createMetricsApp({ registry: telemetry.metrics.registry, bearerToken: config.metrics.bearerToken, logger }) }
      : {}),
    devAttestation: approvals.attestation.mode === 'relaxed',
    inviteApprover: (approver, group) => createEnrolmentInvite(approvals, { approver, group, createdBy: 'system' }),
    async close() {
      clearInterval(refresh)
      follower?.close()
      await keyFollower?.close()
      await aws?.close()
      await approvals.close()
      // Pending audit events are written before the store they live in closes.
      await audit.close()
      if (ownsStore) await store.close()
    },
  }
}
