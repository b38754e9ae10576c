import { context, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api'
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { Logger } from '../logger.js'
import type { RequestScopes } from '../request-scope.js'
import type { BrokerMetrics, TokenOutcome } from '../observability/broker-metrics.js'
import type { CounterChild, HistogramChild } from '../observability/tallies.js'

export interface ObserveRequestsOptions {
  metrics?: BrokerMetrics | undefined
  tracer?: Tracer | undefined
  /** Where the request's span is kept for its children (required with `tracer`). */
  scopes?: RequestScopes | undefined
  logger: Logger
}

/** The routes whose outcomes `writ_token_requests_total` counts. */
const TOKEN_ROUTES = new Set(['/oauth/token', '/v1/tokens', '/oauth/bc-authorize'])

/**
 * The route template of the handler the router matched (`/approve/:id`), never the path: paths
 * carry secrets (`/enroll/{invite}`) and would make one label value per request. `unmatched` for a
 * 404. Known before any middleware runs: hono matches every handler of a request up front.
 */
function routeOf(c: Context): string {
  const last = matchedRoutes(c).at(-1)
  return last && last.method !== 'ALL' ? last.path : 'unmatched'
}

/** What a token route's answer means, from its status and (for 4xx) its RFC 6749 error code. */
function tokenOutcome(res: Response): TokenOutcome | Promise<TokenOutcome> {
  if (res.status === 200) return 'issued'
  if (res.status === 202) return 'pending'
  if (res.status === 429) return 'rate_limited'
  if (res.status >= 500) return 'error'
  return res
    .clone()
    .json()
    .then((body: unknown) => (body as { error?: unknown } | null)?.error, () => undefined)
    .then((error) => {
      if (error === 'authorization_pending' || error === 'slow_down') return 'pending'
      if (error === 'access_denied' || error === 'expired_token') return 'denied'
      return 'invalid'
    })
}

/** The children of the request metrics for one method and route, bound on its first request. */
interface RouteMetrics {
  /** By status class, 1xx..5xx at [1]..[5]. */
  readonly http: (HistogramChild | undefined)[]
  readonly rateLimited: CounterChild
  /** Undefined for a route and method whose outcomes are not counted. */
  readonly outcomes: Map<TokenOutcome, CounterChild> | undefined
  readonly issuance: HistogramChild | undefined
}

/**
 * One middleware in front of every route: a server span per request (the store and signing spans
 * are its children), the request metrics, and a debug line per request. Attributes and labels
 * hold the method, the route template and the status — never a path, header, body or token.
 *
 * The request's span reaches its children through the broker's request scope, not through
 * OpenTelemetry's context manager: on Node 20 and 22 entering the context manager's
 * AsyncLocalStorage makes promise hooks copy it onto every promise the process makes from then on.
 * When a request arrives inside an active span (an HTTP instrumentation runs, so that store is in
 * use already), the span is made active there too, so the instrumentation's spans made beneath it
 * (Redis commands, outgoing requests) nest under it.
 */
export function observeRequests(options: ObserveRequestsOptions): MiddlewareHandler {
  const { metrics, tracer, scopes, logger } = options
  if (tracer && !scopes) throw new Error('observeRequests: a tracer needs the request scopes')
  const routes = new Map<string, RouteMetrics>()
  // Fixed when the logger is made: no request builds a line that would not be written.
  const debugging = logger.enabled?.('debug') ?? true

  const routeMetrics = (m: BrokerMetrics, method: string, route: string): RouteMetrics => {
    const key = `${method} ${route}`
    let bound = routes.get(key)
    if (!bound) {
      const counted = TOKEN_ROUTES.has(route) && method === 'POST'
      bound = {
        http: [],
        rateLimited: m.rateLimited.child({ route }),
        outcomes: counted ? new Map() : undefined,
        issuance: counted ? m.issuanceSeconds.child({ route }) : undefined,
      }
      routes.set(key, bound)
    }
    return bound
  }

  const countOutcome = (
    m: BrokerMetrics,
    bound: RouteMetrics,
    route: string,
    outcome: TokenOutcome,
    seconds: number,
  ): void => {
    let counter = bound.outcomes!.get(outcome)
    if (!counter) {
      counter = m.tokenRequests.child({ route, outcome })
      bound.outcomes!.set(outcome, counter)
    }
    counter.inc()
    if (outcome === 'issued') bound.issuance!.observe(seconds)
  }

  /** Records one answer; a promise only when a token route's 4xx body has to be read. */
  const record = (
    m: BrokerMetrics,
    method: string,
    route: string,
    res: Response,
    seconds: number,
  ): void | Promise<void> => {
    const bound = routeMetrics(m, method, route)
    const status = res.status
    const statusClass = Math.floor(status / 100)
    let http = bound.http[statusClass]
    if (!http) {
      http = m.httpRequestSeconds.child({ method, route, status: `${statusClass}xx` })
      bound.http[statusClass] = http
    }
    http.observe(seconds)
    if (status === 429) bound.rateLimited.inc()
    if (!bound.outcomes) return
    const outcome = tokenOutcome(res)
    if (typeof outcome === 'string') return countOutcome(m, bound, route, outcome, seconds)
    return outcome.then((read) => countOutcome(m, bound, route, read, seconds))
  }

  return async (c, next) => {
    const started = performance.now()
    const method = c.req.method
    // The router matched before any middleware runs: the route is known from the start.
    const route = routeOf(c)
    let span: Span | undefined
    try {
      if (tracer && scopes) {
        const outer = context.active()
        span = tracer.startSpan(
          `${method} ${route}`,
          { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } },
          outer,
        )
        const traced = trace.setSpan(outer, span)
        const run = () => scopes.run({ trace: traced }, next)
        await (trace.getSpan(outer) ? context.with(traced, run) : run())
      } else await next()
      const res = c.res
      const seconds = (performance.now() - started) / 1000
      if (metrics) {
        const recorded = record(metrics, method, route, res, seconds)
        if (recorded) await recorded
      }
      if (span?.isRecording()) {
        span.setAttribute('http.response.status_code', res.status)
        if (res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
      }
      if (debugging) {
        logger.debug('request', {
          requestId: c.get('requestId') as string | undefined,
          method,
          route,
          status: res.status,
          ms: Math.round(seconds * 1e4) / 10,
        })
      }
    } finally {
      span?.end()
    }
  }
}
