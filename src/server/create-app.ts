import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import { WritError } from '../errors.js'
import type { AppDeps } from './deps.js'
import { createRateLimiter } from '../limits/create-rate-limiter.js'
import { errorResponse } from './error-response.js'
import { rateLimitByIp } from './rate-limit-by-ip.js'
import { auditAdminRequests } from './routes/admin-audit-actions.js'
import { adminRoutes } from './routes/admin-routes.js'
import { approveDecisionRoute, approveOptionsRoute } from './routes/approve-ceremony.js'
import { approvePageRoute, ceremonyScriptRoute } from './routes/approve-page.js'
import {
  inboxPageRoute,
  inboxSignInOptionsRoute,
  inboxSignInRoute,
  inboxSignOutRoute,
} from './routes/approve-inbox.js'
import { awsCredentialsRoute } from './routes/aws-credentials.js'
import { cibaAuthorizeRoute } from './routes/ciba-authorize.js'
import { enrollOptionsRoute, enrollVerifyRoute } from './routes/enroll-ceremony.js'
import { enrollPageRoute } from './routes/enroll-page.js'
import { healthRoute, openapiRoute, readyRoute } from './routes/health.js'
import { metricsRoute, metricsUnconfiguredRoute } from './routes/metrics.js'
import { docsAssetRoute, docsPageRoute } from './routes/docs.js'
import { observeRequests } from './observe-requests.js'
import { introspectRoute } from './routes/introspect.js'
import { jwksRoute, metadataRoute } from './routes/metadata.js'
import { authorizeDecisionRoute, authorizeOptionsRoute, authorizeRoute } from './routes/oauth-authorize.js'
import { oauthTokenRoute } from './routes/oauth-token.js'
import { revokeRoute } from './routes/revoke.js'
import { v1TokensRoute } from './routes/v1-tokens.js'

type Env = { Variables: { requestId: string } }

/**
 * Builds the broker's HTTP application from its dependencies. No module state, no environment:
 * everything arrives finished in `deps`, so tests build as many apps as they like.
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>()

  // Metrics, a span and a debug line for every request (before everything else, to time it all).
  app.use(
    observeRequests({
      metrics: deps.telemetry?.metrics,
      tracer: deps.telemetry?.tracer,
      scopes: deps.telemetry?.scopes,
      logger: deps.logger,
    }),
  )
  // Ensure a request sees one policy from start to end, even when a new one takes force meanwhile.
  app.use((_c, next) => deps.policy.pin(next))
  app.use(async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 64) || randomUUID()
    c.set('requestId', requestId)
    // Set before the route answers, so the answer is built with them: a header set on a finished
    // answer makes hono rebuild it around a body stream, a cost every request would pay. Routes
    // answer through `c` (never a Response of their own), so every answer carries them.
    c.header('X-Request-Id', requestId)
    c.header('X-Content-Type-Options', 'nosniff')
    await next()
  })
  // Every admin request that changes something, and every refused admin token, is audited.
  app.use('/admin/*', auditAdminRequests(deps))

  // Ensure one address cannot flood the pages people open, nor fill the store with challenges.
  const pages = rateLimitByIp({
    limiter: createRateLimiter({
      burst: deps.config.limits.pageBurst,
      perSecond: deps.config.limits.pageRequestsPerMinute / 60,
      maxKeys: 100_000,
      clock: deps.clock,
    }),
    addresses: deps.config.limits,
  })
  app.use('/approve/*', pages) // also /approve itself (the inbox)
  app.use('/enroll/*', pages)
  app.use('/oauth/authorize', pages)
  app.use('/oauth/authorize/*', pages)

  app.get('/healthz', healthRoute)
  app.get('/readyz', readyRoute(deps))
  app.get('/openapi.yaml', openapiRoute(deps))
  app.get('/docs', docsPageRoute)
  app.get('/docs/assets/:file', docsAssetRoute)
  const metrics = deps.telemetry?.metrics
  if (metrics && !deps.config.metrics.listen) {
    const { bearerToken } = deps.config.metrics
    app.get('/metrics', bearerToken ? metricsRoute({ registry: metrics.registry, bearerToken }) : metricsUnconfiguredRoute)
  }
  app.get('/.well-known/oauth-authorization-server', metadataRoute(deps))
  app.get('/.well-known/jwks.json', jwksRoute(deps))
  app.post('/oauth/token', oauthTokenRoute(deps))
  app.post('/oauth/introspect', introspectRoute(deps))
  app.post('/oauth/revoke', revokeRoute(deps))
  app.post('/v1/tokens', v1TokensRoute(deps))
  app.post('/v1/credentials/aws', awsCredentialsRoute(deps))
  // Human approval: CIBA, the approval and enrolment pages and ceremonies, approver admin.
  app.post('/oauth/bc-authorize', cibaAuthorizeRoute(deps))
  app.get('/approve/ceremony.js', ceremonyScriptRoute)
  // The approver inbox (registered before /approve/:id, whose routes these paths also match).
  app.get('/approve', inboxPageRoute(deps))
  app.post('/approve/sign-in/options', inboxSignInOptionsRoute(deps))
  app.post('/approve/sign-in/verify', inboxSignInRoute(deps))
  app.post('/approve/sign-out', inboxSignOutRoute(deps))
  app.get('/approve/:id', approvePageRoute(deps))
  app.post('/approve/:id/options', approveOptionsRoute(deps))
  app.post('/approve/:id/verify', approveDecisionRoute(deps, 'approve'))
  app.post('/approve/:id/deny', approveDecisionRoute(deps, 'deny'))
  app.get('/enroll/:invite', enrollPageRoute(deps))
  app.post('/enroll/:invite/options', enrollOptionsRoute(deps))
  app.post('/enroll/:invite/verify', enrollVerifyRoute(deps))
  // The authorization code flow: the consent page and its ceremony (interactive public clients).
  app.get('/oauth/authorize', authorizeRoute(deps))
  app.post('/oauth/authorize/:id/options', authorizeOptionsRoute(deps))
  app.post('/oauth/authorize/:id/consent', authorizeDecisionRoute(deps, 'consent'))
  app.post('/oauth/authorize/:id/decline', authorizeDecisionRoute(deps, 'decline'))
  app.route('/admin', adminRoutes(deps))

  app.notFound((c) =>
    errorResponse(c, new WritError('not_found', 404, `no route for ${c.req.method} ${c.req.path}`), deps.logger),
  )
  app.onError((err, c) => errorResponse(c, err, deps.logger))
  return app
}
