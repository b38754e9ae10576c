#!/usr/bin/env node
// The peer baseline for bench/peer.js: node-oidc-provider (a devDependency) issuing ES256 JWT
// access tokens (RFC 9068 format) by client credentials, on its default in-memory adapter, in its
// own process like the broker. Prints `ready <port>` once it listens.
//
//   node bench/peer-provider.js PORT SECRET
import { generateKeyPairSync } from 'node:crypto'
import Provider from 'oidc-provider'

const [port, secret] = process.argv.slice(2)
const resource = 'https://git.example.com/acme/app'
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-es256', alg: 'ES256', use: 'sig' }

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'bench-peer',
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: () => ({
        scope: 'read',
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  scopes: ['read'],
})
provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${port}`))
