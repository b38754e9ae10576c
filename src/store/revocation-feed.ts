import type { RevocationMessage } from '../wire/revocation-message.js'

/** State of a revocation subscription: `down` while messages may be missed, `up` once back. */
export type SubscriptionState = 'up' | 'down'

/** Ends a subscription; resolves once its connection is closed. Safe to call twice. */
export type Unsubscribe = () => Promise<void>

/**
 * The revocation feed: what the grant store publishes when it revokes (atomically with the
 * change), what the key-set store publishes when the key set changes, and what replicas follow
 * (key-set changes, AWS session revocation). Its port: consumers see only this.
 */
export interface RevocationFeed {
  /**
   * Subscribes to revocation messages: every message published after this resolves reaches
   * `onMessage`, in order. Resolves once the subscription is active (state `up`); rejects with a
   * WritError `temporarily_unavailable` when it cannot be set up (within the command timeout).
   * Afterwards `onState` reports every change: `down` when the subscription is lost (messages may
   * be missed from then on: drop every cache that relies on them), `up` once it is active again.
   * Closing the store reports `down` and ends the subscription. A throwing callback is ignored.
   */
  subscribeRevocations(
    onMessage: (message: RevocationMessage) => void,
    onState?: (state: SubscriptionState) => void,
  ): Promise<Unsubscribe>
}

/** The message telling verifiers to drop every grant they cached (`revokeAll`). */
export const ALL_REVOKED_MESSAGE: RevocationMessage = { v: 1, all: true }

/** Calls a subscriber's callback; what it throws is its own business. */
export function deliver<T>(callback: ((value: T) => void) | undefined, value: T): void {
  try {
    callback?.(value)
  } catch {
    // A subscriber's failure must not undo or interrupt a revocation, nor break the subscription.
  }
}
