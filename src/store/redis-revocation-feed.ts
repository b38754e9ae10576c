import { Redis } from 'ioredis'
import { storeUnavailable } from '../errors.js'
import { parseRevocationMessage, type RevocationMessage } from '../wire/revocation-message.js'
import type { RedisBackend } from './redis-backend.js'
import { failFastRedisOptions, endConnection } from './redis-connection.js'
import {
  ALL_REVOKED_MESSAGE,
  deliver,
  type RevocationFeed,
  type SubscriptionState,
  type Unsubscribe,
} from './revocation-feed.js'

/** A live subscription to the revocation channel. */
interface Subscription {
  /** Reports `down` (when it was up) and closes the subscription's connection. */
  end(reportDown: boolean): Promise<void>
}

/**
 * The revocation feed on Redis: each subscription on a connection of its own to the channel
 * `<prefix>revocations`, resubscribed by the feed after every reconnection, so a subscriber learns
 * about every gap (`down`) and can drop its caches then. Closing the backend ends every one.
 */
export function createRedisRevocationFeed(backend: RedisBackend): RevocationFeed {
  const { redis, keys, commandTimeoutMs, onError, run } = backend
  const channel = keys.revocationChannel()
  const subscriptions = new Set<Subscription>()
  const subscribeTimeoutMs = Math.max(commandTimeoutMs, 2000)

  /**
   * A connection for a subscription. On a single Redis or Sentinel: a duplicate of the client (on
   * Sentinel it follows the primary). On Cluster: a plain connection to one master, picked at
   * random; PUBLISH on a Cluster reaches the subscribers of every node, so one node delivers
   * every message. ioredis' own Cluster subscriber is not used: it moves to another node silently,
   * and a subscriber must learn about every gap (it drops its cache then).
   */
  const subscriberConnection = async (): Promise<Redis> => {
    const options = {
      ...failFastRedisOptions(commandTimeoutMs),
      lazyConnect: true,
      autoResubscribe: false,
    }
    if (redis instanceof Redis) return redis.duplicate(options)
    await run(async () => {})
    const masters = redis.nodes('master')
    const node = masters[Math.floor(Math.random() * masters.length)]
    if (!node) throw storeUnavailable(new Error('the Redis Cluster has no master to subscribe on'))
    const { host, port, username, password, tls } = node.options
    return new Redis({
      ...options,
      host,
      port,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(tls !== undefined ? { tls } : {}),
    })
  }

  /** A subscription on its own connection, resubscribed by us after every reconnection. */
  const subscribe = async (
    onMessage: (message: RevocationMessage) => void,
    onState: ((state: SubscriptionState) => void) | undefined,
  ): Promise<Unsubscribe> => {
    const sub = await subscriberConnection()
    let state: SubscriptionState = 'down'
    let started = false
    let ended = false
    const report = (next: SubscriptionState): void => {
      if (next === state) return
      state = next
      if (started && !ended) deliver(onState, next)
    }
    let firstUp = (): void => {}
    const up = new Promise<void>((resolve) => (firstUp = resolve))

    sub.on('error', onError)
    sub.on('message', (from: string, text: string) => {
      if (from !== channel || ended) return
      // Ensure a message nobody can read is never ignored: it counts as "everything revoked".
      deliver(onMessage, parseRevocationMessage(text) ?? ALL_REVOKED_MESSAGE)
    })
    sub.on('close', () => report('down'))
    sub.on('ready', () => {
      sub.subscribe(channel).then(
        () => {
          if (!started) {
            state = 'up'
            started = true
            firstUp()
          } else {
            report('up')
          }
        },
        (err: unknown) => {
          onError(err instanceof Error ? err : new Error(String(err)))
          // Never stay connected without the subscription: start over on a fresh connection.
          if (!ended) sub.disconnect(true)
        },
      )
    })

    const subscription: Subscription = {
      async end(reportDown) {
        if (ended) return
        if (reportDown) report('down')
        ended = true
        subscriptions.delete(subscription)
        await endConnection(sub, commandTimeoutMs)
      },
    }
    subscriptions.add(subscription)
    // Connection failures reach 'error'; the reconnection loop keeps trying.
    sub.connect().catch(() => {})

    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      up.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), subscribeTimeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (timedOut) {
      await subscription.end(false)
      const why = `no subscription to ${channel} within ${subscribeTimeoutMs} ms`
      throw storeUnavailable(new Error(why))
    }
    return () => subscription.end(false)
  }

  backend.onClose(async () => {
    await Promise.all([...subscriptions].map((s) => s.end(true)))
  })

  return {
    async subscribeRevocations(onMessage, onState) {
      if (backend.closed) throw storeUnavailable(new Error('the Redis store is closed'))
      return subscribe(onMessage, onState)
    },
  }
}
