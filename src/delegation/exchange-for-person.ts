import { WritError } from '../errors.js'
import {
  type ApprovalPending,
  issueGrant,
  type IssueGrantDeps,
  type TokenResponse,
} from '../grants/issue-grant.js'
import { tokenDeniedEvent } from '../grants/token-denied-event.js'
import type { Manifest } from '../manifest/types.js'
import { ACCESS_TOKEN_TYPE } from './exchange-token.js'
import type { SubjectTokenVerifier } from './verify-subject-token.js'

export interface ExchangeForPersonDeps {
  issue: IssueGrantDeps
  verifySubjectToken: SubjectTokenVerifier
}

export interface ExchangeForPersonRequest {
  /** The authenticated caller: the agent that acts for the person. */
  clientId: string
  /** An ID token (or JWT) of a trusted issuer naming the person. */
  subjectToken: string
  /** The task and grants asked for; `task.requested_by` must be absent (the person fills it). */
  manifest: Manifest
  /** The thumbprint of the request's own verified DPoP proof (binds the token). */
  cnfJkt?: string
}

/** RFC 8693 §2.2.1 token response for a person, or the approval to wait for. */
export type ExchangeForPersonResponse =
  | (TokenResponse & { issued_token_type: typeof ACCESS_TOKEN_TYPE })
  | ApprovalPending

/**
 * Token exchange on behalf of a person (RFC 8693 §1.1): the caller presents an ID token from an
 * identity provider the policy trusts and gets a token whose `sub` is the person and whose `act`
 * is itself. The person's verified id becomes the task's `requested_by`, so approval rules that
 * forbid self-approval compare verified identities; the policy then decides for the calling client
 * as at any request, with rules' person conditions (`subjects`, `claims`) tested against the
 * verified token. Grants that need a human start an approval (the answer is then
 * `{auth_req_id, ...}`, collected with the CIBA grant; the token collected is still the person's).
 *
 * Every refusal is a 4xx naming the problem and noted as `token.denied`; nothing else is recorded.
 */
export async function exchangeForPerson(
  deps: ExchangeForPersonDeps,
  req: ExchangeForPersonRequest,
): Promise<ExchangeForPersonResponse> {
  let person
  try {
    // Ensure the caller cannot name the requester: it is the person the token proves, or nobody.
    if (req.manifest.task.requested_by !== undefined) {
      throw new WritError(
        'invalid_request',
        400,
        'requested_by: not accepted with an ID token as subject_token; the requester is the person it proves',
      )
    }
    person = await deps.verifySubjectToken(req.subjectToken)
  } catch (err) {
    if (err instanceof WritError && err.status < 500) {
      await deps.issue.audit.note(tokenDeniedEvent(req.clientId, req.manifest, err))
    }
    throw err
  }
  const manifest: Manifest = { ...req.manifest, task: { ...req.manifest.task, requested_by: person.id } }
  // issueGrant decides, asks a human when a rule needs one, records and audits (grant.issued with
  // on_behalf_of, or token.denied) exactly as at any token request.
  const response = await issueGrant(deps.issue, {
    clientId: req.clientId,
    manifest,
    person,
    ...(req.cnfJkt !== undefined ? { cnfJkt: req.cnfJkt } : {}),
  })
  return 'access_token' in response ? { ...response, issued_token_type: ACCESS_TOKEN_TYPE } : response
}
