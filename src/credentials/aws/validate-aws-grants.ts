import { WritError } from '../../errors.js'
import type { AuthorizationDetail } from '../../manifest/types.js'
import { selectAwsGrants } from './select-aws-grants.js'

/**
 * Checks every `type: aws` grant of a manifest is well formed (role_arn, actions, resources,
 * conditions, `locations: [role_arn]`), so a malformed one is refused when the token is asked for
 * rather than minted into a token that could never vend credentials.
 *
 * @throws WritError `invalid_authorization_details` (400) naming the grant and field.
 */
export function validateAwsGrants(details: readonly AuthorizationDetail[]): void {
  const roles = new Set<string>()
  details.forEach((detail, index) => {
    if (detail.type !== 'aws') return
    // Ensure the grant names the one role it is for.
    if (typeof detail.role_arn !== 'string' || detail.role_arn === '') {
      throw new WritError(
        'invalid_authorization_details',
        400,
        `authorization_details[${index}].role_arn: required for aws grants (the role's ARN)`,
      )
    }
    roles.add(detail.role_arn)
  })
  for (const role of roles) selectAwsGrants(details, role)
}
