import { AsyncLocalStorage } from 'node:async_hooks'
import type { Context } from '@opentelemetry/api'

/**
 * What one request carries through everything it awaits. `P`: what the policy pin holds (the
 * policy module's `PolicyInForce`; generic so that this module imports no domain).
 */
export interface RequestScope<P = unknown> {
  /** The policy the request was pinned to when it began (see `LivePolicy.pin`). */
  policy?: P
  /** The OpenTelemetry context holding the request's span: the parent of its store and signing spans. */
  trace?: Context
}

/**
 * The broker's one AsyncLocalStorage: per request, a {@link RequestScope} that every component
 * reads instead of keeping its own store. One store, not one per concern, because on Node 20 and
 * 22 every AsyncLocalStorage that has ever been entered is copied onto every promise the process
 * makes (about a hundred per token) by promise hooks: each further store is work on every promise.
 */
export interface RequestScopes<P = unknown> {
  /** Runs `fn` in a new scope (holding `scope`), for all it does and awaits. */
  run<T>(scope: RequestScope<P>, fn: () => T): T
  /** The running request's scope; undefined outside one. */
  current(): RequestScope<P> | undefined
}

export function createRequestScopes<P = unknown>(): RequestScopes<P> {
  const storage = new AsyncLocalStorage<RequestScope<P>>()
  return {
    run: (scope, fn) => storage.run(scope, fn),
    current: () => storage.getStore(),
  }
}
