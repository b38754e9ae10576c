import { invalidRequest } from '../../errors.js'
import { normalizePersonId } from '../../text/normalize-person-id.js'

/**
 * An approver id as given by an admin (an invite, a key filter, `revoke --approver`), in the
 * normal form the policy's groups and every approver index use.
 *
 * @throws WritError `invalid_request` (400) naming `field` when it is no person's id.
 *
 * @example
 * ```ts
 * approverId('Alice@Example.com.') // 'alice@example.com'
 * ```
 */
export function approverId(value: string, field = 'approver'): string {
  const result = normalizePersonId(value)
  if ('problem' in result) throw invalidRequest(`${field}: ${result.problem}`)
  return result.id
}
