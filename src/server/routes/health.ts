import type { Context } from 'hono'
import { WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'

/** `GET /healthz`: the process is up. Never touches the store (liveness must not flap with Redis). */
export const healthRoute = (c: Context): Response => c.json({ status: 'ok' })

/** `GET /readyz`: the store answers, so this replica can issue. 503 with Retry-After otherwise. */
export function readyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    try {
      await deps.storeHealth.ping()
    } catch (err) {
      const retry = err instanceof WritError && err.retryAfterSeconds ? err.retryAfterSeconds : 2
      return c.json({ status: 'unavailable', store: deps.storeHealth.kind }, 503, { 'Retry-After': String(retry) })
    }
    return c.json({ status: 'ready', store: deps.storeHealth.kind })
  }
}

/** `GET /openapi.yaml`: the contract this server implements. */
export function openapiRoute(deps: AppDeps) {
  return (c: Context): Response =>
    c.body(deps.openapi, 200, { 'Content-Type': 'application/yaml; charset=utf-8', 'Cache-Control': 'public, max-age=300' })
}
