import type { Context } from 'hono'
import { WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'

/** `GET /healthz`: the process is up. Never touches the store (liveness must not flap with Redis). */
export const healthRoute = (c: Context): Response => c.json({ status: 'ok' })

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * The policy this replica has in force, for `/readyz` and `writ status`: its hash (hex SHA-256 of
 * the policy text), where it comes from, since when, and the last candidate it refused (its
 * problems are in the log), so replicas that diverge show it.
 */
function policyStatus(deps: AppDeps) {
  const inForce = deps.policy.latest()
  const refused = deps.policy.refused()
  return {
    hash: inForce.hash,
    source: inForce.origin,
    ...(inForce.generation !== undefined ? { generation: inForce.generation } : {}),
    since: iso(inForce.since),
    ...(refused
      ? {
          refused: {
            ...(refused.hash !== undefined ? { hash: refused.hash } : {}),
            ...(refused.generation !== undefined ? { generation: refused.generation } : {}),
            at: iso(refused.at),
          },
        }
      : {}),
  }
}

/**
 * `GET /readyz`: the store answers, so this replica can issue (503 with Retry-After otherwise),
 * and the policy it has in force.
 */
export function readyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const policy = policyStatus(deps)
    try {
      await deps.storeHealth.ping()
    } catch (err) {
      const retry = err instanceof WritError && err.retryAfterSeconds ? err.retryAfterSeconds : 2
      return c.json({ status: 'unavailable', store: deps.storeHealth.kind, policy }, 503, { 'Retry-After': String(retry) })
    }
    return c.json({ status: 'ready', store: deps.storeHealth.kind, policy }, 200, { 'Cache-Control': 'no-store' })
  }
}

/** `GET /openapi.yaml`: the contract this server implements. */
export function openapiRoute(deps: AppDeps) {
  return (c: Context): Response =>
    c.body(deps.openapi, 200, { 'Content-Type': 'application/yaml; charset=utf-8', 'Cache-Control': 'public, max-age=300' })
}
