import type { Clock } from '../clock.js'
import { storeUnavailable } from '../errors.js'
import type { RevocationMessage } from '../wire/revocation-message.js'
import {
  deliver,
  type RevocationFeed,
  type SubscriptionState,
  type Unsubscribe,
} from './revocation-feed.js'

/**
 * The process memory under every port of a memory store: its clock, its open/closed state and
 * its revocation feed, which the grant and key-set stores publish to. Nothing is shared between
 * processes; messages reach this process's subscribers synchronously, before the publishing call
 * returns.
 */
export interface MemoryBackend extends RevocationFeed {
  readonly kind: 'memory'
  readonly clock: Clock
  /** Throws a WritError `temporarily_unavailable` (503) once the store is closed. */
  ensureOpen(): void
  /** Delivers `message` (a JSON copy) to every subscriber. */
  publish(message: RevocationMessage): void
  /** Reports `down` to every subscriber and fails every later call closed. Safe to call twice. */
  close(): Promise<void>
}

interface Subscriber {
  onMessage: (message: RevocationMessage) => void
  onState: ((state: SubscriptionState) => void) | undefined
}

/** Creates the memory backend of a single-process store. */
export function createMemoryBackend(options: { clock: Clock }): MemoryBackend {
  const subscribers = new Set<Subscriber>()
  let closed = false

  const ensureOpen = (): void => {
    // Ensure a closed store fails closed instead of answering from stale state.
    if (closed) throw storeUnavailable(new Error('the memory store is closed'))
  }

  return {
    kind: 'memory',
    clock: options.clock,
    ensureOpen,

    publish(message) {
      const text = JSON.stringify(message)
      for (const subscriber of [...subscribers]) {
        deliver(subscriber.onMessage, JSON.parse(text) as RevocationMessage)
      }
    },

    async subscribeRevocations(onMessage, onState): Promise<Unsubscribe> {
      ensureOpen()
      const subscriber: Subscriber = { onMessage, onState }
      subscribers.add(subscriber)
      return async () => {
        subscribers.delete(subscriber)
      }
    },

    async close() {
      closed = true
      const ended = [...subscribers]
      subscribers.clear()
      for (const subscriber of ended) deliver(subscriber.onState, 'down')
    },
  }
}
