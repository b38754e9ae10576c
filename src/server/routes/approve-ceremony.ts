import type { Context } from 'hono'
import { startApprovalCeremony } from '../../approvals/ceremony/start-approval-ceremony.js'
import { submitApprovalAssertion } from '../../approvals/ceremony/submit-approval-assertion.js'
import { invalidRequest } from '../../errors.js'
import type { AppDeps } from '../deps.js'
import { readCeremonyJson } from './approve-json.js'

const NO_STORE = { 'Cache-Control': 'no-store' }

/** `POST /approve/{id}/options` with `{"action": "approve" | "deny"}`: WebAuthn request options. */
export function approveOptionsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const body = await readCeremonyJson(c, deps)
    const action = (body as { action?: unknown } | null)?.action
    if (action !== 'approve' && action !== 'deny') throw invalidRequest('action: expected "approve" or "deny"')
    const options = await startApprovalCeremony(deps.approvals, { approvalId: c.req.param('id') ?? '', action })
    return c.json(options, 200, NO_STORE)
  }
}

/**
 * `POST /approve/{id}/verify` (approve) and `POST /approve/{id}/deny`: the body is the
 * `PublicKeyCredential` from `navigator.credentials.get`, JSON-encoded. Answers where the request
 * stands: `{status, approver, approvals}`.
 */
export function approveDecisionRoute(deps: AppDeps, action: 'approve' | 'deny') {
  return async (c: Context): Promise<Response> => {
    const response = await readCeremonyJson(c, deps)
    const progress = await submitApprovalAssertion(deps.approvals, {
      approvalId: c.req.param('id') ?? '',
      action,
      response,
    })
    return c.json(progress, 200, NO_STORE)
  }
}
