import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { requestToken, type ManifestInput, type PendingApproval } from '../../client/index.js'
import { WritClientError } from '../../client/errors.js'
import { parseSafeYaml } from '../../manifest/index.js'
import { CliError, EXIT } from '../cli-error.js'
import { clientCredentials } from '../client-credentials.js'
import type { CliContext } from '../context.js'
import { loadOrCreateDpopKey } from '../dpop-key-file.js'
import { tokenInspectCommand } from './token-inspect.js'
import { tokenRevokeCommand } from './token-revoke.js'
import { terminalText } from '../output.js'

export interface TokenRequestOptions {
  client?: string
  key?: string
  dpopKey?: string
  wait?: boolean
  stdin?: boolean
}

function readManifest(file: string): ManifestInput {
  let text: string
  try {
    // `-`: the manifest comes from stdin (a pipe, or a heredoc).
    text = readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read manifest ${file}: ${(err as Error).message}`, EXIT.usage)
  }
  try {
    const value = parseSafeYaml(text)
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a mapping with task and grants')
    return value as ManifestInput
  } catch (err) {
    const problems = (err as { problems?: string[] }).problems
    throw new CliError(`${file}: ${problems ? problems.join('; ') : (err as Error).message}`, EXIT.usage)
  }
}

/**
 * `writ token request MANIFEST`: exchanges a manifest for a token. With `--wait`, waits through a
 * human approval (printing the approval URL, with a spinner on a TTY). Prints the bare token when
 * piped, a summary on a TTY, everything with `--json`. Exit 3 when denied, 4 when expired.
 */
export async function tokenRequest(ctx: CliContext, manifestFile: string, opts: TokenRequestOptions): Promise<void> {
  const manifest = readManifest(manifestFile)
  const credentials = await clientCredentials(ctx, opts)
  const clientId = credentials.clientId
  const broker = ctx.brokerUrl()
  let dpopKey
  if (opts.dpopKey) {
    const loaded = await loadOrCreateDpopKey(opts.dpopKey)
    if (loaded.created) ctx.out.error(`generated a DPoP key in ${opts.dpopKey} (0600); tokens asked for with it are bound to it`)
    dpopKey = loaded.key
  }
  const controller = new AbortController()
  let spinner: NodeJS.Timeout | undefined
  const onPending = (p: PendingApproval) => {
    if (!opts.wait) {
      controller.abort()
      throw new CliError(
        `this request needs human approval${p.approvalUri ? ` at ${p.approvalUri}` : ''}; rerun with --wait to wait for it`,
        EXIT.error,
      )
    }
    const where = p.approvalUri ?? `auth_req_id ${p.authReqId}`
    if (ctx.out.tty) {
      const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'
      let i = 0
      process.stderr.write(`approval needed: ${terminalText(where)}\n`)
      spinner = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} waiting for approval (expires in ${p.expiresIn}s)`), 120)
    } else {
      ctx.out.error(`approval needed: ${where} (expires in ${p.expiresIn}s)`)
    }
  }
  try {
    const token = await requestToken({
      broker,
      credentials,
      manifest,
      onPending,
      signal: controller.signal,
      fetch: ctx.fetch,
      ...(dpopKey ? { dpopKey } : {}),
    })
    if (ctx.out.json) {
      // The API's own field names (RFC 6749 §5.1), as every --json output uses.
      ctx.out.data({
        access_token: token.accessToken,
        token_type: token.tokenType,
        expires_in: token.expiresIn,
        scope: token.scope,
        authorization_details: token.authorizationDetails,
        grant_id: token.grantId,
      })
    }
    else if (ctx.out.tty) {
      ctx.out.error(`${ctx.out.green('✓')} token for ${manifest.task?.id ?? 'task'}: ${token.scope}, ${token.expiresIn}s, grant ${token.grantId}`)
      ctx.out.line(token.accessToken)
    } else ctx.out.line(token.accessToken)
  } catch (err) {
    if (err instanceof CliError) throw err
    if (err instanceof WritClientError) {
      if (err.code === 'access_denied') throw new CliError(`denied: ${err.message}`, EXIT.denied)
      if (err.code === 'expired_token') throw new CliError(`expired: ${err.message}`, EXIT.expired)
      if (err.code === 'invalid_client') throw new CliError(`the broker refused the client credentials of ${clientId}`, EXIT.error)
      throw new CliError(`${err.code}: ${err.message}`, err.status && err.status < 500 ? EXIT.usage : EXIT.error)
    }
    throw err
  } finally {
    if (spinner) {
      clearInterval(spinner)
      process.stderr.write('\r\x1b[K')
    }
  }
}

export function tokenCommand(ctx: () => CliContext): Command {
  const cmd = new Command('token').description('tokens for agent runtimes and scripts')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ token request examples/manifest.yaml --client demo-agent')
  cmd
    .command('request')
    .argument('<manifest>', 'task manifest (YAML or JSON); - reads it from stdin')
    .option('--client <id>', 'client id (default WRIT_CLIENT_ID)')
    .option('--key <file>', 'private key for private_key_jwt (PKCS#8 PEM or JWK); otherwise WRIT_CLIENT_SECRET')
    .option('--dpop-key <file>', 'bind the token to this DPoP key (RFC 9449), a private JWK; created (0600) when missing')
    .option('--wait', 'wait for human approval when policy needs one')
    .description('exchange a task manifest for a task-scoped token')
    .addHelpText(
      'after',
      `
Exit codes: 0 token printed, 1 error, 2 usage, 3 denied, 4 approval expired.

Examples:
  WRIT_URL=http://localhost:8080 WRIT_CLIENT_SECRET=demo-secret \\
    writ token request examples/manifest.yaml --client demo-agent
  TOKEN=$(writ token request examples/deploy.yaml --client demo-agent --dpop-key agent.jwk --wait)`,
    )
    .action((manifest: string, opts: TokenRequestOptions) => tokenRequest(ctx(), manifest, opts))
  cmd.addCommand(tokenRevokeCommand(ctx))
  cmd.addCommand(tokenInspectCommand(ctx))
  return cmd
}
