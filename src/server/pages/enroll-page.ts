import type { EnrolmentInvite } from '../../approvals/types.js'
import { html } from './html.js'
import { renderPage } from './layout.js'
import { utc } from './format.js'

/** The enrolment page: who is enrolling, for which group, and one button. */
export function renderEnrolmentPage(invite: EnrolmentInvite, token: string, devAttestation: boolean): string {
  const body = html`<h1>Enrol a security key</h1>
<section class="card">
<dl>
<dt>Approver</dt><dd>${invite.sub}</dd>
<dt>Group</dt><dd><code>${invite.group}</code></dd>
<dt>Invite expires</dt><dd>${utc(invite.expiresAt)}</dd>
</dl>
</section>
<p>Insert your security key and press the button. You will be asked for its PIN (or fingerprint),
and to touch it. The broker checks the key's attestation: only allowed hardware models are accepted.</p>
<div class="actions"><button type="button" class="approve" data-action="enroll">Enrol security key</button></div>
<p id="result" role="status" aria-live="polite"></p>
<p class="muted">This link works once. Keys enrolled here can approve requests that need group
<code>${invite.group}</code>.</p>`
  return renderPage({
    title: 'Enrol a security key',
    body,
    warning: devAttestation
      ? 'DEV MODE: security key attestation is not verified on this broker. Do not enrol keys for real approvals here.'
      : undefined,
    data: { ceremony: 'enroll', base: `/enroll/${token}` },
    script: true,
  })
}
