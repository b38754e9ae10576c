import type { ApprovalView } from '../../approvals/requests/get-approval-view.js'
import type { AuthorizationDetail } from '../../manifest/types.js'
import { escapeUnsafeText } from '../../text/escape-unsafe-text.js'
import { html, type SafeHtml } from './html.js'
import { renderPage } from './layout.js'
import { duration, utc } from './format.js'
import { literal } from './literal.js'

const COMMON_FIELDS = new Set(['type', 'actions', 'locations', 'identifier'])

const STATUS_TEXT: Record<ApprovalView['status'], string> = {
  pending: 'Waiting for approval',
  approved: 'Approved: the agent may collect its token',
  denied: 'Denied',
  redeemed: 'Approved, and the token has been issued',
  expired: 'Expired: no decision can be made any more',
  revoked: 'Revoked: no token will be issued for it',
}

function grantCard(grant: AuthorizationDetail, index: number): SafeHtml {
  const extra = Object.entries(grant).filter(([name]) => !COMMON_FIELDS.has(name))
  return html`<section class="card grant">
<h3>Grant ${index + 1}: ${literal(grant.type)}</h3>
<dl>
<dt>Actions</dt><dd>${grant.actions?.length ? grant.actions.map((a, i) => html`${i > 0 ? ', ' : ''}${literal(a)}`) : html`<span class="muted">(none named)</span>`}</dd>
<dt>Resources</dt><dd>${grant.locations?.length ? html`<ul class="plain">${grant.locations.map((l) => html`<li>${literal(l)}</li>`)}</ul>` : html`<span class="muted">(any location the rule allows)</span>`}</dd>
<dt>Identifier</dt><dd>${grant.identifier !== undefined ? literal(grant.identifier) : html`<span class="muted">(none)</span>`}</dd>
${extra.map(([name, value]) => html`<dt>${literal(name)}</dt><dd>${literal(JSON.stringify(value))}</dd>`)}
</dl>
</section>`
}

/**
 * The approval page: exactly what is asked (client, task, purpose, requester, every grant with
 * its type, actions, resources, identifier and any other field, the token's life, when the request
 * expires), each rule's progress, and Approve / Deny while the request is pending. Every value an
 * approver must read exactly is shown with {@link literal}: characters outside printable ASCII are
 * marked with their code points, so no look-alike passes for what it imitates.
 */
export const DEV_WARNING = 'DEV MODE: security key attestation is not verified on this broker. Do not use it for real approvals.'

export function renderApprovalPage(view: ApprovalView, nowMs: number): string {
  const pending = view.status === 'pending'
  const left = view.expiresAt - Math.floor(nowMs / 1000)
  const body = html`<h1>Approve access for an agent?</h1>
<p class="status status-${view.status}" id="state">${STATUS_TEXT[view.status]}</p>
<section class="card">
<dl>
<dt>Client</dt><dd>${literal(view.clientId)}</dd>
<dt>Task</dt><dd>${literal(view.task.id)}</dd>
<dt>Purpose</dt><dd>${view.task.purpose !== undefined ? escapeUnsafeText(view.task.purpose) : html`<span class="muted">(none given)</span>`}</dd>
<dt>Requested by</dt><dd>${view.task.requested_by !== undefined ? literal(view.task.requested_by) : html`<span class="muted">(not named)</span>`}</dd>
<dt>Token life</dt><dd>${duration(view.ttlSeconds)} from when the agent collects it</dd>
<dt>Token binding</dt><dd>${view.dpopBound ? 'DPoP-bound: usable only with the agent\'s own key (RFC 9449)' : 'bearer: whoever holds the token can use it'}</dd>
<dt>Request expires</dt><dd>${utc(view.expiresAt)}${pending ? ` (in ${duration(left)})` : ''}</dd>
</dl>
</section>
<h2>${view.grants.length === 1 ? 'The agent asks for 1 grant' : `The agent asks for ${view.grants.length} grants`}</h2>
${view.grants.map(grantCard)}
<h2>Approvals needed</h2>
<section class="card">
<ul class="plain">
${view.requirements.map(
  (r) => html`<li>Rule <code>${r.ruleId}</code>: ${r.approvers} of group <code>${r.group}</code>,
<span data-progress>${r.approvedBy.length}</span> so far${r.approvedBy.length ? html` (${r.approvedBy.map((sub, i) => html`${i > 0 ? ', ' : ''}${literal(sub)}`)})` : ''}${r.forbidSelfApproval ? html` <span class="muted">· the requester may not approve</span>` : ''}</li>`,
)}
</ul>
${view.denial ? html`<p class="status status-denied">Denied by ${literal(view.denial.sub)} at ${utc(view.denial.at)}</p>` : ''}
</section>
${
  pending
    ? html`<div class="actions">
<button type="button" class="approve" data-action="approve">Approve with security key</button>
<button type="button" class="deny" data-action="deny">Deny</button>
</div>`
    : ''
}
<p id="result" role="status" aria-live="polite"></p>
<p class="muted">Approving signs this exact request with your security key: request <code>${view.id}</code>,
manifest SHA-256 <code>${view.manifestSha256}</code>.</p>`
  return renderPage({
    title: 'Approve access',
    body,
    warning: view.devAttestation ? DEV_WARNING : undefined,
    data: { ceremony: 'approve', base: `/approve/${view.id}` },
    script: pending,
  })
}
