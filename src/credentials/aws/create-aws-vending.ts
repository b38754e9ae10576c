import type { Auditor } from '../../audit/create-auditor.js'
import type { Clock } from '../../clock.js'
import type { GrantStore } from '../../grants/store.js'
import type { Logger } from '../../logger.js'
import type { RevocationFeed, Unsubscribe } from '../../store/revocation-feed.js'
import type { StoreBackend } from '../../store/store-backend.js'
import { type AwsSessionRevoker, createAwsSessionRevoker } from './aws-session-revoker.js'
import { type AwsClients, type AwsCredentials, createAwsClients } from './create-aws-clients.js'
import { createMemorySessionRecord } from './memory-session-record.js'
import { createRedisSessionRecord } from './redis-session-record.js'
import type { AwsSessionRecord } from './session-record.js'
import type { AwsSettings } from './types.js'
import {
  type AwsCredentialsResponse,
  vendAwsCredentials,
  type VendAwsCredentialsRequest,
} from './vend-aws-credentials.js'

export interface AwsVendingOptions {
  settings: AwsSettings
  /** The grants port: vending and revocation read the grant a session was vended for. */
  store: Pick<GrantStore, 'getGrant'>
  /** Revocations, which cut the sessions of revoked grants. */
  revocations: RevocationFeed
  /** What the store lives on: on Redis, the session record shares its connection and prefix. */
  backend: StoreBackend
  clock: Clock
  logger: Logger
  /**
   * The audit trail: every vending is recorded as `credential.vended` before the credentials are
   * returned; when it cannot be recorded, none are (503).
   */
  audit: Pick<Auditor, 'record'>
  /** The broker's AWS credentials; the SDK's standard provider chain when left out. */
  credentials?: AwsCredentials
  /** Use these clients instead of building them from `settings` (closed by the caller). */
  clients?: Pick<AwsClients, 'sts' | 'iam'>
}

/** AWS credential vending, wired: what the HTTP route calls and what revocation drives. */
export interface AwsVending {
  /**
   * `vendAwsCredentials`, then the `credential.vended` audit event, recorded before the
   * credentials are returned (a WritError 503 and no credentials when it cannot be written).
   */
  vend(request: VendAwsCredentialsRequest): Promise<AwsCredentialsResponse>
  revoker: AwsSessionRevoker
  record: AwsSessionRecord
  /**
   * Subscribes the revoker to the store's revocation channel and starts the periodic tick
   * (reconcile missed revocations, prune expired entries). Resolves once the first subscription
   * attempt settled; a failed attempt is logged and retried at every tick.
   */
  start(): Promise<void>
  /** Runs one tick now: reconcile, then prune. */
  tick(): Promise<void>
  /** Stops the tick and the subscription, and closes clients this module built. */
  close(): Promise<void>
}

/**
 * Builds AWS credential vending for a broker: STS and IAM clients, the session record (Redis when
 * the store is Redis, so replicas share it; memory otherwise) and the session revoker.
 */
export function createAwsVending(options: AwsVendingOptions): AwsVending {
  const { settings, store, backend, clock, logger } = options
  const owned = options.clients
    ? undefined
    : createAwsClients({
        region: settings.region,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      })
  const clients = options.clients ?? owned!
  const record =
    backend.kind === 'redis'
      ? createRedisSessionRecord({ redis: backend.redis, keyPrefix: backend.keys.prefix, clock })
      : createMemorySessionRecord({ clock })
  const revoker = createAwsSessionRevoker({
    iam: clients.iam,
    record,
    store,
    roleArns: settings.roles.map((r) => r.arn),
    policyName: settings.revocation.policyName,
    maxPolicyChars: settings.revocation.maxPolicyChars,
    clock,
    logger,
  })

  let unsubscribe: Unsubscribe | undefined
  let subscribing: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let missed = false

  const failed = (what: string) => (err: unknown) => {
    logger.error(`aws session revocation: ${what} failed; the next tick retries`, {
      err: err instanceof Error ? err.message : String(err),
    })
  }

  const subscribe = (): Promise<void> => {
    subscribing ??= options.revocations
      .subscribeRevocations(
        (message) => {
          revoker.onRevocation(message).catch(failed('cutting sessions of revoked grants'))
        },
        (state) => {
          if (state === 'down') missed = true
          // Ensure revocations published while the subscription was down are caught up on.
          if (state === 'up' && missed) {
            missed = false
            revoker.reconcile().catch(failed('reconciling after the subscription came back'))
          }
        },
      )
      .then(
        async (stop) => {
          if (closed) await stop()
          else unsubscribe = stop
        },
        failed('subscribing to revocations'),
      )
      .finally(() => {
        subscribing = undefined
      })
    return subscribing
  }

  const tick = async (): Promise<void> => {
    if (!unsubscribe && !closed) await subscribe()
    await revoker.reconcile()
    await revoker.prune()
  }

  return {
    async vend(request) {
      const { grant } = request
      const vended = await vendAwsCredentials({ sts: clients.sts, record, store, settings, clock }, request)
      // Ensure no credentials leave the broker without their audit event durable in the log.
      await options.audit.record({
        type: 'credential.vended',
        actor: `client:${grant.clientId}`,
        client: grant.clientId,
        grant: grant.id,
        task: grant.task.id,
        provider: 'aws',
        resource: vended.role_arn,
        session: vended.session_name,
        expires_at: Math.floor(Date.parse(vended.Expiration) / 1000),
        detail: {
          assumed_role_arn: vended.assumed_role_arn,
          source_identity: vended.source_identity,
          duration_seconds: vended.duration_seconds,
        },
      })
      return vended
    },
    revoker,
    record,
    async start() {
      await subscribe()
      timer = setInterval(() => {
        tick().catch(failed('the periodic tick'))
      }, settings.revocation.pruneIntervalSeconds * 1000)
      timer.unref()
      // Catch up on anything revoked while no broker was listening.
      tick().catch(failed('the first tick'))
    },
    tick,
    async close() {
      closed = true
      clearInterval(timer)
      await subscribing
      await unsubscribe?.()
      unsubscribe = undefined
      owned?.destroy()
    },
  }
}
