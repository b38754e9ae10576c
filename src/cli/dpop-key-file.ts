import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import type { DpopKeyPair } from '../client/index.js'
import { CliError, EXIT } from './cli-error.js'

/** What {@link loadOrCreateDpopKey} did: read the key, or made and kept a new one. */
export interface DpopKeyFile {
  key: DpopKeyPair
  created: boolean
}

/**
 * The DPoP key (RFC 9449) kept in `file` as a private JWK (EC P-256 or Ed25519). A missing file is
 * created with a new ES256 key, readable by its owner only (0600), so the same key binds every
 * token asked for with it; a file others may read is refused, as ssh refuses such a key.
 */
export async function loadOrCreateDpopKey(file: string): Promise<DpopKeyFile> {
  let text: string | undefined
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CliError(`--dpop-key ${file}: cannot read it: ${(err as Error).message}`, EXIT.usage)
    }
  }
  if (text === undefined) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256' }
    try {
      // 'wx': never overwrite a key another process wrote in the meantime.
      writeFileSync(file, JSON.stringify(jwk) + '\n', { mode: 0o600, flag: 'wx' })
    } catch (err) {
      throw new CliError(`--dpop-key ${file}: cannot create it: ${(err as Error).message}`, EXIT.usage)
    }
    return { key: { privateKey, publicKey }, created: true }
  }
  const mode = statSync(file).mode & 0o777
  // Ensure a private key others can read is not used: whoever reads it can use the bound tokens.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new CliError(
      `--dpop-key ${file}: permissions ${mode.toString(8).padStart(4, '0')} are too open: the private key must be readable by its owner only (chmod 600 ${file})`,
      EXIT.usage,
    )
  }
  let jwk: JWK
  try {
    jwk = JSON.parse(text) as JWK
  } catch {
    throw new CliError(`--dpop-key ${file}: not a JSON Web Key (a private EC P-256 or Ed25519 JWK)`, EXIT.usage)
  }
  const alg = jwk.kty === 'OKP' && jwk.crv === 'Ed25519' ? 'EdDSA' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined
  if (!alg || typeof jwk.d !== 'string') {
    throw new CliError(`--dpop-key ${file}: expected a private EC P-256 or Ed25519 JWK (with "d")`, EXIT.usage)
  }
  try {
    const { kty, crv, x, y } = jwk
    const privateKey = (await importJWK({ kty, crv, x, y, d: jwk.d }, alg)) as CryptoKey
    const publicJwk = Object.fromEntries(Object.entries({ kty, crv, x, y }).filter(([, v]) => v !== undefined))
    const publicKey = (await importJWK(publicJwk, alg, { extractable: true })) as CryptoKey
    return { key: { privateKey, publicKey }, created: false }
  } catch (err) {
    throw new CliError(`--dpop-key ${file}: not a usable key: ${(err as Error).message}`, EXIT.usage)
  }
}
