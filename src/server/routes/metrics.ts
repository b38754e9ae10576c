import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import type { Registry } from 'prom-client'
import { WritError } from '../../errors.js'

export interface MetricsRouteOptions {
  registry: Registry
  /** The bearer token scrapers must present; undefined: none needed (a listener of its own). */
  bearerToken: string | undefined
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * `GET /metrics`: the Prometheus text exposition format (version 0.0.4). With a bearer token, a
 * request without exactly that token gets 401 and no metric (compared in constant time over
 * SHA-256 digests, so neither the token's length nor its prefix leaks through timing).
 */
export function metricsRoute(options: MetricsRouteOptions) {
  const expected = options.bearerToken === undefined ? undefined : digest(options.bearerToken)
  return async (c: Context): Promise<Response> => {
    if (expected) {
      const presented = /^Bearer ([\x21-\x7e]+)$/.exec(c.req.header('authorization') ?? '')?.[1]
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        throw new WritError('invalid_token', 401, 'GET /metrics needs the metrics bearer token (metrics.bearerToken)')
      }
    }
    return c.body(await options.registry.metrics(), 200, {
      'Content-Type': options.registry.contentType,
      'Cache-Control': 'no-store',
    })
  }
}

/**
 * `GET /metrics` on the main listener when metrics are served nowhere there: 401 saying how to
 * turn them on (a bearer token, or a listener of their own).
 */
export function metricsUnconfiguredRoute(): never {
  throw new WritError(
    'invalid_token',
    401,
    'metrics are not served on this listener without a token: set metrics.bearerToken (WRIT_METRICS_TOKEN) or metrics.listen (WRIT_METRICS_LISTEN)',
  )
}
