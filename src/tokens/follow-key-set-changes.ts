import type { RevocationFeed } from '../store/revocation-feed.js'
import type { Logger } from '../logger.js'
import type { KeyManager } from './key-manager.js'

export interface FollowKeySetChangesOptions {
  store: RevocationFeed
  keys: Pick<KeyManager, 'refresh'>
  logger: Logger
}

/** A running subscription to key-set announcements; `close()` ends it. */
export interface KeySetFollower {
  /** Subscribes again when the subscription could not be set up (called on each key refresh). */
  ensureSubscribed(): void
  close(): Promise<void>
}

/**
 * Makes a broker replica re-read the key set from the store as soon as another replica announces
 * a change on the revocation channel (and after a lost subscription comes back), instead of on
 * its next periodic refresh. The message only says "look": what is adopted is what authenticates
 * under the KEK in the store, never the message's content.
 */
export function followKeySetChanges(options: FollowKeySetChangesOptions): KeySetFollower {
  const { store, keys, logger } = options
  let unsubscribe: (() => Promise<void>) | undefined
  let subscribing: Promise<void> | undefined
  let closed = false
  let missed = false

  const refresh = (why: string): void => {
    keys.refresh().catch((err: unknown) => {
      logger.warn(`signing key refresh after ${why} failed; keeping current keys`, {
        err: err instanceof Error ? err.message : String(err),
      })
    })
  }

  const subscribe = (): void => {
    if (closed || unsubscribe || subscribing) return
    subscribing = store
      .subscribeRevocations(
        (message) => {
          if ('keys' in message) refresh('a key-set announcement')
        },
        (state) => {
          if (state === 'down') missed = true
          // Ensure a change announced while the subscription was down is picked up now.
          if (state === 'up' && missed) {
            missed = false
            refresh('the revocation subscription came back')
          }
        },
      )
      .then(
        async (stop) => {
          if (closed) await stop()
          else unsubscribe = stop
        },
        (err: unknown) => {
          logger.warn('cannot subscribe to key-set announcements; relying on periodic refresh', {
            err: err instanceof Error ? err.message : String(err),
          })
        },
      )
      .finally(() => {
        subscribing = undefined
      })
  }

  subscribe()
  return {
    ensureSubscribed: subscribe,
    async close() {
      closed = true
      await subscribing
      await unsubscribe?.()
      unsubscribe = undefined
    },
  }
}
