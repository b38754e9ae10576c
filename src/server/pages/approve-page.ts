import type { ApprovalView } from '../../approvals/requests/get-approval-view.js'
import type { AuthorizationDetail } from '../../manifest/types.js'
import { isMcpAction, MCP_ACTIONS, MCP_TYPE } from '../../mcp/mcp-grant.js'
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

/**
 * What an `mcp` grant lets the agent do, one plain sentence per action:
 * "Call tool deploy_prod on https://mcp.example.com/mcp", "Read resources matching repo://** on ...".
 */
function mcpSentences(grant: AuthorizationDetail): SafeHtml {
  const identifier = grant.identifier ?? ''
  const pattern = identifier.includes('*')
  const servers = (grant.locations ?? []).map((l, i) => html`${i > 0 ? ' and ' : ''}${literal(l)}`)
  const lines = (grant.actions ?? []).map((action) => {
    const words = isMcpAction(action) ? MCP_ACTIONS[action] : undefined
    if (!words) return html`<li>${literal(action)} ${literal(identifier)} on ${servers}</li>`
    const what = pattern ? `${words.nouns} matching` : words.noun
    return html`<li class="mcp-action">${words.verb} ${what} ${literal(identifier)} on ${servers}</li>`
  })
  return html`<ul class="plain">${lines}</ul>`
}

/** One grant, every field shown exactly: the approval and consent pages both show grants so. */
export function grantCard(grant: AuthorizationDetail, index: number): SafeHtml {
  const extra = Object.entries(grant).filter(([name]) => !COMMON_FIELDS.has(name))
  return html`<section class="card grant">
<h3>Grant ${index + 1}: ${literal(grant.type)}</h3>
${grant.type === MCP_TYPE ? mcpSentences(grant) : ''}
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
 * expires), each rule's progress, and Approve / Deny while the request is pending. The token's
 * audience (RFC 8707 resources) and scopes are shown when the request named them; an `mcp` grant
 * also reads as plain sentences ("Call tool deploy_prod on https://mcp.example.com/mcp"). Every value an
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
${view.resources ? html`<dt>Token for</dt><dd><ul class="plain">${view.resources.map((r) => html`<li>${literal(r)}</li>`)}</ul></dd>` : ''}
${view.scopes ? html`<dt>Scopes asked</dt><dd>${view.scopes.map((sc, i) => html`${i > 0 ? ', ' : ''}${literal(sc)}`)}</dd>` : ''}
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
