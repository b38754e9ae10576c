import type { AuthorizationRequest } from '../../authorization/index.js'
import { grantCard } from './approve-page.js'
import { duration, utc } from './format.js'
import { html } from './html.js'
import { renderPage } from './layout.js'
import { literal } from './literal.js'

/**
 * The consent page of the authorization code flow: which application (client id) asks, where
 * the browser goes back to (the redirect URI), every grant shown as the approval page shows it,
 * the resources the token is for, the token's life, and what the consent counts for where a rule
 * needs approval. "Allow" signs this exact request with the person's security key (sign-in and
 * consent in one touch); "Decline" sends the browser back with `access_denied`.
 */
export function renderConsentPage(
  request: AuthorizationRequest,
  nowMs: number,
  options: { devAttestation: boolean },
): string {
  const left = request.expiresAt - Math.floor(nowMs / 1000)
  const body = html`<h1>Allow an application to act for you?</h1>
<section class="card">
<dl>
<dt>Application</dt><dd>${literal(request.clientId)}</dd>
<dt>Returns to</dt><dd>${literal(request.redirectUri)}</dd>
<dt>For</dt><dd>${request.resources.length ? html`<ul class="plain">${request.resources.map((r) => html`<li>${literal(r)}</li>`)}</ul>` : html`<span class="muted">(the resources of the grants below)</span>`}</dd>
<dt>Token life</dt><dd>${duration(request.ttlSeconds)}, no refresh</dd>
<dt>Request expires</dt><dd>${utc(request.expiresAt)} (in ${duration(left)})</dd>
</dl>
</section>
<h2>${request.grants.length === 1 ? 'It asks for 1 grant' : `It asks for ${request.grants.length} grants`}</h2>
${request.grants.map(grantCard)}
${
  request.requirements.length
    ? html`<h2>Approval</h2>
<section class="card">
<ul class="plain">
${request.requirements.map((r) => html`<li>Rule <code>${r.ruleId}</code> needs ${r.approvers} of group <code>${r.from}</code>: allowing counts as your approval, if you are a member.</li>`)}
</ul>
</section>`
    : ''
}
<div class="actions">
<button type="button" class="approve" data-action="consent">Allow with security key</button>
<button type="button" class="deny" data-action="decline">Decline</button>
</div>
<p id="result" role="status" aria-live="polite"></p>
<p class="muted">Allowing signs this exact request with your security key (request <code>${request.id}</code>):
these grants, for this application, returning to this address, and nothing else.</p>`
  return renderPage({
    title: 'Allow access',
    body,
    warning: options.devAttestation
      ? 'DEV MODE: security key attestation is not verified on this broker. Do not use it for real authorizations.'
      : undefined,
    data: { ceremony: 'consent', base: `/oauth/authorize/${request.id}` },
    script: true,
  })
}
