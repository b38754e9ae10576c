import type { InboxItem } from '../../approvals/inbox/list-inbox.js'
import { escapeUnsafeText } from '../../text/escape-unsafe-text.js'
import { duration, utc } from './format.js'
import { html } from './html.js'
import { renderPage } from './layout.js'
import { literal } from './literal.js'

/** The inbox's sign-in page: one button that asks the approver's own security key. */
export function renderSignInPage(warning?: string): string {
  const body = html`<h1>Approver inbox</h1>
<p>Sign in with your security key to see the requests waiting for your approval.</p>
<p class="muted">Signing in only shows the list: each approval still asks your key to sign that
exact request.</p>
<div class="actions">
<button type="button" class="approve" data-action="sign-in">Sign in with security key</button>
</div>
<p id="result" role="status" aria-live="polite"></p>`
  return renderPage({
    title: 'Approver inbox',
    body,
    warning,
    data: { ceremony: 'sign-in', base: '/approve/sign-in' },
    script: true,
  })
}

/**
 * The inbox: every pending request the signed-in approver may approve, newest first, each
 * linking to its own approval page (which runs that request's ceremony). Values an approver must
 * read exactly are shown with {@link literal}.
 */
export function renderInboxPage(
  approver: string,
  items: readonly InboxItem[],
  sessionExpiresAt: number,
  nowMs: number,
  warning?: string,
): string {
  const now = Math.floor(nowMs / 1000)
  const list = items.map(
    (item) => html`<section class="card inbox-item" data-approval="${item.id}">
<h3><a href="/approve/${item.id}">Task ${literal(item.task.id)} for ${literal(item.clientId)}</a></h3>
<dl>
<dt>Purpose</dt><dd>${item.task.purpose !== undefined ? escapeUnsafeText(item.task.purpose) : html`<span class="muted">(none given)</span>`}</dd>
<dt>Requested by</dt><dd>${item.task.requested_by !== undefined ? literal(item.task.requested_by) : html`<span class="muted">(not named)</span>`}</dd>
<dt>Grants</dt><dd><ul class="plain">${item.grants.map(
      (g) => html`<li>${literal(g.type)}${g.actions?.length ? html` · ${g.actions.map((a, i) => html`${i > 0 ? ', ' : ''}${literal(a)}`)}` : ''}${g.locations?.length ? html` · ${g.locations.map((l, i) => html`${i > 0 ? ', ' : ''}${literal(l)}`)}` : ''}</li>`,
    )}</ul></dd>
<dt>Asked</dt><dd>${utc(item.createdAt)}</dd>
<dt>Expires</dt><dd>${utc(item.expiresAt)} (in ${duration(item.expiresAt - now)})</dd>
<dt>Approvals</dt><dd>${item.approvals} of ${item.approvalsNeeded}</dd>
</dl>
</section>`,
  )
  const body = html`<h1>Approver inbox</h1>
<p>Signed in as ${literal(approver)} until ${utc(sessionExpiresAt)}.</p>
<h2 id="count">${items.length === 0 ? 'Nothing waiting for you' : items.length === 1 ? '1 request waiting for you' : `${items.length} requests waiting for you`}</h2>
${list}
<p class="muted">Opening a request shows exactly what it asks; approving it signs that request with your key.</p>
<div class="actions">
<button type="button" class="deny" data-action="sign-out">Sign out</button>
</div>
<p id="result" role="status" aria-live="polite"></p>`
  return renderPage({ title: 'Approver inbox', body, warning, data: { ceremony: 'inbox', base: '/approve' }, script: true })
}
