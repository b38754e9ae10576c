import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { decodeJwt } from 'jose'
import { revoke } from '../../client/index.js'
import { WritClientError } from '../../client/errors.js'
import { CliError, EXIT } from '../cli-error.js'
import { clientCredentials } from '../client-credentials.js'
import type { CliContext } from '../context.js'

/** A token from the command line, or from stdin when it is `-` (keeps it out of process listings). */
export function readTokenArgument(token: string): string {
  const text = (token === '-' ? readFileSync(0, 'utf8') : token).trim()
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text)) {
    throw new CliError('token: expected a JWT access token (three base64url parts separated by dots)', EXIT.usage)
  }
  return text
}

export interface TokenRevokeOptions {
  client?: string
  key?: string
}

/**
 * `writ token revoke TOKEN|-`: the agent ends its own token when its task is done (RFC 7009, with
 * the client's own credentials). The broker answers success for a token that is no longer active
 * and for another client's token (left alone), so this says what was asked, not more.
 */
export async function tokenRevoke(ctx: CliContext, tokenArg: string, opts: TokenRevokeOptions): Promise<void> {
  const token = readTokenArgument(tokenArg)
  let jti: string | undefined
  try {
    const claims = decodeJwt(token)
    jti = typeof claims.jti === 'string' ? claims.jti : undefined
  } catch {
    throw new CliError('token: not a JWT (its claims do not decode)', EXIT.usage)
  }
  const credentials = await clientCredentials(ctx, opts)
  try {
    await revoke({ broker: ctx.brokerUrl(), credentials, token, fetch: ctx.fetch })
  } catch (err) {
    if (err instanceof WritClientError) {
      if (err.code === 'invalid_client') throw new CliError(`the broker refused the client credentials of ${credentials.clientId}`, EXIT.error)
      throw new CliError(`${err.code}: ${err.message}`, err.status && err.status < 500 ? EXIT.usage : EXIT.error)
    }
    throw err
  }
  if (ctx.out.json) return ctx.out.data({ revoked: true, grant_id: jti ?? null, client_id: credentials.clientId })
  ctx.out.line(`revoked: grant ${jti ?? '(no jti)'} is no longer active, if it was issued to ${credentials.clientId}`)
}

export function tokenRevokeCommand(ctx: () => CliContext): Command {
  return new Command('revoke')
    .argument('<token>', 'the access token; - reads it from stdin')
    .option('--client <id>', 'client id the token was issued to (default WRIT_CLIENT_ID)')
    .option('--key <file>', 'private key for private_key_jwt (PKCS#8 PEM or JWK); otherwise WRIT_CLIENT_SECRET')
    .description('end your own token when the task is done (RFC 7009 revocation, with the client\'s credentials)')
    .addHelpText(
      'after',
      `
Examples:
  export WRIT_URL=http://localhost:8080 WRIT_CLIENT_SECRET=demo-secret
  TOKEN=$(writ token request examples/manifest.yaml --client demo-agent)
  writ token revoke "$TOKEN" --client demo-agent
  echo "$TOKEN" | writ token revoke - --client demo-agent`,
    )
    .action((token: string, opts: TokenRevokeOptions) => tokenRevoke(ctx(), token, opts))
}
