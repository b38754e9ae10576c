import type { Context } from 'hono'
import { z } from 'zod'
import { coseKeyThumbprint } from '../../approvals/enrolment/cose-key-thumbprint.js'
import { approverId } from '../../approvals/requests/approver-id.js'
import { createEnrolmentInvite } from '../../approvals/enrolment/create-enrolment-invite.js'
import { invalidRequest } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readCeremonyJson } from './approve-json.js'

const inviteSchema = z
  .object({
    approver: z.string().min(1).max(256),
    group: z.string().min(1).max(128),
  })
  .strict()

/**
 * `POST /admin/approvers/invites` with `{"approver": "alice@example.com", "group": "release-managers"}`:
 * a one-time enrolment invite for a member of an approver group. Answers 201 with the invite URL,
 * which carries the secret: send it to that person only.
 */
export function enrollInviteRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const parsed = inviteSchema.safeParse(await readCeremonyJson(c, deps), { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const invite = await createEnrolmentInvite(deps.approvals, { ...parsed.data, createdBy: 'admin' })
    return c.json(
      {
        invite_url: invite.url,
        approver: invite.approver,
        group: invite.group,
        expires_at: invite.expiresAt,
      },
      201,
      { 'Cache-Control': 'no-store' },
    )
  }
}

/**
 * `GET /admin/approvers/keys[?approver=...]`: enrolled security keys with their state; a key whose
 * signature counter went backwards, or that an admin disabled, is `flagged` (it can no longer
 * approve). Each key's `public_key_thumbprint` (RFC 7638) is the one its `approver.enrolled` audit
 * event records, so the keys a broker holds can be compared with the audit chain.
 */
export function enrollKeysRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const approver = c.req.query('approver')
    if (approver !== undefined && (approver.length === 0 || approver.length > 256)) {
      throw invalidRequest('approver: expected 1 to 256 characters')
    }
    const filter = approver === undefined ? {} : { sub: approverId(approver) }
    const keys = await deps.approvals.store.listCredentials(filter)
    const thumbprints = await Promise.all(keys.map((k) => coseKeyThumbprint(k.publicKey)))
    return c.json(
      {
        keys: keys.map((k, i) => ({
          credential_id: k.id,
          approver: k.sub,
          group: k.group,
          aaguid: k.aaguid,
          public_key_thumbprint: thumbprints[i]!,
          fmt: k.fmt,
          attestation: k.attestation,
          counter: k.currentCounter,
          enrolled_at: k.enrolledAt,
          ...(k.flagged ? { flagged: { reason: k.flagged.reason, at: k.flagged.at, detail: k.flagged.detail } } : {}),
        })),
      },
      200,
      { 'Cache-Control': 'no-store' },
    )
  }
}
