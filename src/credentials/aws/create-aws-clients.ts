import { IAMClient } from '@aws-sdk/client-iam'
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts'

/** Static credentials or a provider, as the SDK clients take them. */
export type AwsCredentials = NonNullable<STSClientConfig['credentials']>

export interface AwsClientsOptions {
  region: string
  /** Endpoint override for both STS and IAM (a VPC endpoint, a local emulator). */
  endpoint?: string
  /**
   * The broker's own AWS credentials. Leave out to use the SDK's standard provider chain
   * (environment, shared config and SSO, web identity, ECS and EC2 instance roles).
   */
  credentials?: AwsCredentials
}

export interface AwsClients {
  sts: STSClient
  iam: IAMClient
  /** Closes the clients' connection pools. */
  destroy(): void
}

/** Builds the STS and IAM clients writ uses, with bounded timeouts so a stuck call fails. */
export function createAwsClients(options: AwsClientsOptions): AwsClients {
  const common = {
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 5000 },
  }
  const sts = new STSClient(common)
  const iam = new IAMClient(common)
  return {
    sts,
    iam,
    destroy() {
      sts.destroy()
      iam.destroy()
    },
  }
}
