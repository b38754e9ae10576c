import { tokenDeniedEvent } from '../../grants/token-denied-event.js'
import type { ApprovalPending } from '../../grants/issue-grant.js'
import { LockRefusal } from '../../locks/lock-refusal.js'
import type { Manifest } from '../../manifest/types.js'
import { validateMcpGrants } from '../../mcp/validate-mcp-grants.js'
import { decide, type DecideLimits } from '../../policy/index.js'
import { createApprovalRequest } from './create-approval-request.js'
import type { ApprovalDeps } from '../deps.js'

/** CIBA backchannel authentication response (CIBA Core §7.3). */
export type BackchannelResponse = Omit<ApprovalPending, 'approval_uri'>

/**
 * `POST /oauth/bc-authorize` (CIBA poll mode, OAuth-only profile): decides the manifest under
 * the policy (default deny: a grant no usable rule covers is refused now, not at poll time) and
 * records an approval request for it, whether or not a human is needed; a request that needs
 * none is approved at once and its first poll returns the token.
 *
 * @throws WritError `access_denied` (403) naming a grant the policy does not allow.
 */
export async function startBackchannelRequest(
  deps: ApprovalDeps & { limits: DecideLimits },
  input: { clientId: string; manifest: Manifest },
): Promise<BackchannelResponse> {
  // Ensure MCP grants are well formed before anyone is asked to approve them.
  validateMcpGrants(input.manifest.grants)
  // Ensure every grant is covered by a rule this client may use before anyone is asked.
  const decision = decide(deps.policy(), input.clientId, input.manifest, deps.limits)
  let pending
  try {
    pending = await createApprovalRequest(deps, { ...input, decision })
  } catch (err) {
    // A lock's refusal is audited like any refused token request.
    if (err instanceof LockRefusal) await deps.audit.note(tokenDeniedEvent(input.clientId, input.manifest, err))
    throw err
  }
  return { auth_req_id: pending.auth_req_id, expires_in: pending.expires_in, interval: pending.interval }
}
