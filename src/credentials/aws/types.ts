/**
 * Types of AWS credential vending. A manifest grant of `type: aws` names one IAM role, the IAM
 * actions and resources the agent may use through it, and optional IAM conditions:
 *
 * ```yaml
 * - type: aws
 *   role_arn: arn:aws:iam::123456789012:role/writ-docs
 *   locations: [arn:aws:iam::123456789012:role/writ-docs]   # the same role: the policy pins it
 *   actions: [s3:GetObject, s3:ListBucket]
 *   resources: [arn:aws:s3:::acme-docs, arn:aws:s3:::acme-docs/*]
 *   conditions: { StringEquals: { aws:RequestedRegion: eu-west-1 } }
 * ```
 */

/** IAM condition block: operator → condition key → value(s). */
export type IamConditions = Record<string, Record<string, IamConditionValue>>

export type IamConditionScalar = string | number | boolean
export type IamConditionValue = IamConditionScalar | IamConditionScalar[]

/** A validated `type: aws` grant. */
export interface AwsGrant {
  /** Index of the grant in the token's `authorization_details`, for messages. */
  index: number
  roleArn: string
  /** IAM actions (`s3:GetObject`, `s3:Get*`). */
  actions: string[]
  /** Resource ARNs (or `*`). */
  resources: string[]
  conditions?: IamConditions
}

/** One role the broker may vend sessions for (from the `aws.roles` config). */
export interface AwsRoleSettings {
  arn: string
  /** The role's `MaxSessionDuration` in IAM (3600 to 43200). */
  maxSessionSeconds: number
  /** Sent as `ExternalId` when the role's trust policy requires one. */
  externalId?: string
}

/** The `aws` config section, validated. */
export interface AwsSettings {
  region: string
  /** Endpoint override for STS and IAM (a VPC endpoint, a local emulator). */
  endpoint?: string
  /** The broker itself runs on a role: AWS caps chained sessions at one hour. */
  roleChaining: boolean
  roles: AwsRoleSettings[]
  revocation: {
    /** Name of the inline deny policy writ maintains on each role. */
    policyName: string
    /** How often expired entries are pruned and missed revocations reconciled. */
    pruneIntervalSeconds: number
    /**
     * Budget for the deny policy; past it (or past a client's share of it), a client's revoked
     * sessions are replaced by a cutoff on that client's sessions by issue time.
     */
    maxPolicyChars: number
  }
}
