import { readFileSync } from 'node:fs'
import { importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose'
import type { ClientCredentials } from '../client/index.js'
import { CliError, EXIT } from './cli-error.js'
import type { CliContext } from './context.js'

async function loadKey(file: string): Promise<{ key: CryptoKey; kid?: string; alg: 'ES256' | 'EdDSA' | 'RS256' | 'PS256' }> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read key ${file}: ${(err as Error).message}`, EXIT.usage)
  }
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as JWK
      const alg = (jwk.alg ?? (jwk.kty === 'OKP' ? 'EdDSA' : jwk.kty === 'RSA' ? 'RS256' : 'ES256')) as 'ES256'
      return { key: (await importJWK(jwk, alg)) as CryptoKey, ...(jwk.kid ? { kid: jwk.kid } : {}), alg }
    }
    const alg = text.includes('BEGIN PRIVATE KEY') && /ed25519/i.test(file) ? 'EdDSA' : 'ES256'
    return { key: await importPKCS8(text, alg), alg }
  } catch (err) {
    throw new CliError(`${file}: not a private key (PKCS#8 PEM or JWK): ${(err as Error).message}`, EXIT.usage)
  }
}

/**
 * The agent client's credentials: `--client` (or WRIT_CLIENT_ID) with a private key file
 * (`--key`, private_key_jwt) or the client secret (WRIT_CLIENT_SECRET, `--stdin`, or a prompt).
 */
export async function clientCredentials(ctx: CliContext, opts: { client?: string; key?: string }): Promise<ClientCredentials> {
  const clientId = opts.client ?? ctx.env.WRIT_CLIENT_ID
  if (!clientId) throw new CliError('no client id: pass --client or set WRIT_CLIENT_ID', EXIT.usage)
  if (opts.key) {
    const { key, kid, alg } = await loadKey(opts.key)
    return { clientId, privateKey: key, algorithm: alg, ...(kid ? { keyId: kid } : {}) }
  }
  return { clientId, clientSecret: await ctx.secret('WRIT_CLIENT_SECRET', 'client secret') }
}
