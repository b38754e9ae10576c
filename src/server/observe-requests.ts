import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { Logger } from '../logger.js'
import type { BrokerMetrics, TokenOutcome } from '../observability/broker-metrics.js'

export interface ObserveRequestsOptions {
  metrics?: BrokerMetrics | undefined
  tracer?: Tracer | undefined
  logger: Logger
}

/** The routes whose outcomes `writ_token_requests_total` counts. */
const TOKEN_ROUTES = new Set(['/oauth/token', '/v1/tokens', '/oauth/bc-authorize'])

/**
 * The route template that answered (`/approve/:id`), never the path: paths carry secrets
 * (`/enroll/{invite}`) and would make one label value per request. `unmatched` for a 404.
 */
function routeOf(c: Context): string {
  const last = matchedRoutes(c).at(-1)
  return last && last.method !== 'ALL' ? last.path : 'unmatched'
}

/** What a token route's answer means, from its status and (for 4xx) its RFC 6749 error code. */
async function tokenOutcome(res: Response): Promise<TokenOutcome> {
  if (res.status === 200) return 'issued'
  if (res.status === 202) return 'pending'
  if (res.status === 429) return 'rate_limited'
  if (res.status >= 500) return 'error'
  const error = await res
    .clone()
    .json()
    .then((body: unknown) => (body as { error?: unknown } | null)?.error, () => undefined)
  if (error === 'authorization_pending' || error === 'slow_down') return 'pending'
  if (error === 'access_denied' || error === 'expired_token') return 'denied'
  return 'invalid'
}

/**
 * One middleware in front of every route: a server span per request (the store and signing spans
 * are its children), the request metrics, and a debug line per request. Attributes and labels
 * hold the method, the route template and the status — never a path, header, body or token.
 */
export function observeRequests(options: ObserveRequestsOptions): MiddlewareHandler {
  const { metrics, tracer, logger } = options

  const observe = async (c: Context, next: () => Promise<void>, started: number): Promise<void> => {
    await next()
    const route = routeOf(c)
    const status = c.res.status
    const seconds = (performance.now() - started) / 1000
    if (metrics) {
      metrics.httpRequestSeconds.observe({ method: c.req.method, route, status: `${Math.floor(status / 100)}xx` }, seconds)
      if (status === 429) metrics.rateLimited.inc({ route })
      if (TOKEN_ROUTES.has(route) && c.req.method === 'POST') {
        const outcome = await tokenOutcome(c.res)
        metrics.tokenRequests.inc({ route, outcome })
        if (outcome === 'issued') metrics.issuanceSeconds.observe({ route }, seconds)
      }
    }
    logger.debug('request', {
      requestId: c.get('requestId') as string | undefined,
      method: c.req.method,
      route,
      status,
      ms: Math.round(seconds * 1e4) / 10,
    })
  }

  return async (c, next) => {
    const started = performance.now()
    if (!tracer) return observe(c, next, started)
    return tracer.startActiveSpan(
      `${c.req.method}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method } },
      async (span) => {
        try {
          await observe(c, next, started)
          const route = routeOf(c)
          span.updateName(`${c.req.method} ${route}`)
          span.setAttribute('http.route', route)
          span.setAttribute('http.response.status_code', c.res.status)
          if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
        } finally {
          span.end()
        }
      },
    )
  }
}
