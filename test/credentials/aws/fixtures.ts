import type { AuthorizationDetail } from '../../../src/manifest/types.js'

export const ROLE = 'arn:aws:iam::123456789012:role/writ-docs'
export const OTHER_ROLE = 'arn:aws:iam::123456789012:role/writ-deploy'

/** A well-formed aws grant for `role`, with overrides. */
export const awsDetail = (overrides: Record<string, unknown> = {}, role = ROLE): AuthorizationDetail => ({
  type: 'aws',
  role_arn: role,
  locations: [role],
  actions: ['s3:GetObject', 's3:ListBucket'],
  resources: ['arn:aws:s3:::acme-docs', 'arn:aws:s3:::acme-docs/*'],
  ...overrides,
})
