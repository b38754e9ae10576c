// The part of node-oidc-provider (a devDependency without type declarations) the tests use.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  interface OidcClient {
    clientId: string
  }
  interface IdTokenInstance {
    scope: string
    set(name: string, value: unknown): void
    issue(options: { use: 'idtoken'; expiresAt?: number }): Promise<string>
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    Client: { find(id: string): Promise<OidcClient | undefined> }
    IdToken: new (claims: Record<string, unknown>, options: { client: OidcClient }) => IdTokenInstance
  }
}
