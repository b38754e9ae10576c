import { Hono } from 'hono'
import type { Registry } from 'prom-client'
import { WritError } from '../errors.js'
import type { Logger } from '../logger.js'
import { errorResponse } from './error-response.js'
import { metricsRoute } from './routes/metrics.js'

export interface MetricsAppOptions {
  registry: Registry
  /** Required of scrapers when set (see `metricsRoute`). */
  bearerToken: string | undefined
  logger: Logger
}

/**
 * The app of the metrics listener (`metrics.listen`): `GET /metrics` and nothing else, so the
 * port a scraper reaches serves no token, admin or approval route.
 */
export function createMetricsApp(options: MetricsAppOptions): Hono {
  const app = new Hono()
  app.get('/metrics', metricsRoute({ registry: options.registry, bearerToken: options.bearerToken }))
  app.notFound((c) => errorResponse(c, new WritError('not_found', 404, `no route for ${c.req.method} ${c.req.path}`), options.logger))
  app.onError((err, c) => errorResponse(c, err, options.logger))
  return app
}
