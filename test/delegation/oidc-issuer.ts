import { generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'

/** A node-oidc-provider on 127.0.0.1 (a random port), signing ID tokens with its own ES256 key. */
export interface OidcIssuer {
  issuer: string
  jwksUri: string
  /** An ID token the provider signs for `clientId` (its `aud`), with these claims besides `sub`. */
  idToken(clientId: string, sub: string, claims?: Record<string, unknown>, expiresAt?: number): Promise<string>
  close(): Promise<void>
}

/** Client ids registered at the provider: the one writ trusts and another relying party. */
export const RP = 'writ-agents'
export const OTHER_RP = 'other-rp'

/**
 * Starts a provider. Its ID tokens come from the provider's own `IdToken` model, the object its
 * authorization and token endpoints use to sign them: the provider's keystore, `kid`, `iss`,
 * `aud` (the client), `iat` and `exp`; its `/jwks` serves the public key.
 */
export async function startOidcIssuer(): Promise<OidcIssuer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const issuer = `http://127.0.0.1:${port}`
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `idp-${port}`, alg: 'ES256', use: 'sig' }
  const client = (id: string) => ({
    client_id: id,
    client_secret: `${id}-secret-0123456789abcdef0123456789`,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: ['https://agent.example.com/callback'],
    id_token_signed_response_alg: 'ES256',
  })
  const provider = new Provider(issuer, {
    clients: [client(RP), client(OTHER_RP)],
    jwks: { keys: [jwk] },
    features: { devInteractions: { enabled: false } },
    ttl: { IdToken: 600 },
  })
  server.on('request', provider.callback())
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    async idToken(clientId, sub, claims = {}, expiresAt) {
      const rp = await provider.Client.find(clientId)
      if (!rp) throw new Error(`no client ${clientId}`)
      const token = new provider.IdToken({ sub }, { client: rp })
      token.scope = 'openid'
      for (const [name, value] of Object.entries(claims)) token.set(name, value)
      return token.issue({ use: 'idtoken', ...(expiresAt !== undefined ? { expiresAt } : {}) })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
