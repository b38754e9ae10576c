import type { Context } from 'hono'
import {
  declineAuthorization,
  startAuthorization,
  startConsent,
  submitConsent,
} from '../../authorization/index.js'
import type { AppDeps } from '../deps.js'
import { renderConsentPage } from '../pages/consent-page.js'
import { PAGE_HEADERS, pageResponse } from '../pages/layout.js'
import { renderMessagePage } from '../pages/message-page.js'
import { readCeremonyJson } from './approve-json.js'

const NO_STORE = { 'Cache-Control': 'no-store' }

/**
 * `GET /oauth/authorize` (RFC 6749 §4.1.1 with PKCE, RFC 9396 §3, RFC 8707, RFC 9449 §10): a
 * valid request from a public client is stored and its consent page shown; a request whose
 * client or redirect URI cannot be trusted gets an error page (never a redirect, RFC 6749
 * §4.1.2.1); any other refusal goes back to the redirect URI with `error`, `state` and `iss`.
 */
export function authorizeRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const start = await startAuthorization(deps.authorization, c.req.queries())
    switch (start.outcome) {
      case 'consent':
        return pageResponse(
          c,
          renderConsentPage(start.request, deps.clock(), { devAttestation: deps.approvals.attestation.mode === 'relaxed' }),
        )
      case 'error_page':
        return pageResponse(c, renderMessagePage('This authorization request cannot be used', start.error.message), 400)
      case 'redirect':
        return c.body(null, 302, { ...PAGE_HEADERS, Location: start.location })
    }
  }
}

/** `POST /oauth/authorize/{id}/options` (JSON `{}`): WebAuthn request options for the consent. */
export function authorizeOptionsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    await readCeremonyJson(c, deps)
    return c.json(await startConsent(deps.authorization, c.req.param('id') ?? ''), 200, NO_STORE)
  }
}

/**
 * `POST /oauth/authorize/{id}/consent` (the `PublicKeyCredential` JSON) and
 * `POST /oauth/authorize/{id}/decline` (JSON `{}`): `{redirect_to}`, the client's redirect URI
 * with the code or `access_denied`. JSON only, so no other site's form can post here.
 */
export function authorizeDecisionRoute(deps: AppDeps, decision: 'consent' | 'decline') {
  return async (c: Context): Promise<Response> => {
    const body = await readCeremonyJson(c, deps)
    const id = c.req.param('id') ?? ''
    const answer =
      decision === 'consent' ? await submitConsent(deps.authorization, id, body) : await declineAuthorization(deps.authorization, id)
    return c.json(answer, 200, NO_STORE)
  }
}
