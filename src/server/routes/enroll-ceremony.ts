import type { Context } from 'hono'
import { completeEnrolment } from '../../approvals/enrolment/complete-enrolment.js'
import { startEnrolment } from '../../approvals/enrolment/start-enrolment.js'
import type { AppDeps } from '../deps.js'
import { readCeremonyJson } from './approve-json.js'

const NO_STORE = { 'Cache-Control': 'no-store' }

/** `POST /enroll/{invite}/options`: WebAuthn creation options for the invite's person. */
export function enrollOptionsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    await readCeremonyJson(c, deps)
    const options = await startEnrolment(deps.approvals, c.req.param('invite') ?? '')
    return c.json(options, 200, NO_STORE)
  }
}

/**
 * `POST /enroll/{invite}/verify`: the body is the `PublicKeyCredential` from
 * `navigator.credentials.create`, JSON-encoded. Answers what was enrolled.
 */
export function enrollVerifyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const response = await readCeremonyJson(c, deps)
    const key = await completeEnrolment(deps.approvals, { token: c.req.param('invite') ?? '', response })
    return c.json(
      {
        approver: key.approver,
        group: key.group,
        credential_id: key.credentialId,
        aaguid: key.aaguid,
        fmt: key.fmt,
        attestation: key.attestation,
        ...(key.warning ? { warning: key.warning } : {}),
      },
      200,
      NO_STORE,
    )
  }
}
