import { Command } from 'commander'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'
import { readTokenArgument } from './token-revoke.js'

/** The signature check against the broker's JWKS: valid, or why not. */
async function checkSignature(ctx: CliContext, token: string): Promise<{ valid: boolean; reason?: string }> {
  const base = ctx.brokerUrl()
  let jwks: JSONWebKeySet
  try {
    const res = await ctx.fetch(`${base}/.well-known/jwks.json`, { headers: { accept: 'application/json' } })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    jwks = (await res.json()) as JSONWebKeySet
  } catch (err) {
    throw new CliError(`cannot read the broker's keys at ${base}/.well-known/jwks.json: ${(err as Error).message}`)
  }
  try {
    await jwtVerify(token, createLocalJWKSet(jwks), { typ: 'at+jwt', algorithms: ['ES256', 'EdDSA'] })
    return { valid: true }
  } catch (err) {
    return { valid: false, reason: (err as Error).message }
  }
}

/**
 * `writ token inspect TOKEN|-`: one view of a token for an operator: its header and claims, whether
 * the broker's keys verify it, and (with an admin token) its grant's live state or tombstone and
 * who approved it. The token is never sent anywhere but the broker's own admin API, by id.
 */
export async function tokenInspect(ctx: CliContext, tokenArg: string): Promise<void> {
  const token = readTokenArgument(tokenArg)
  let header: Record<string, unknown>
  let claims: Record<string, unknown>
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>
    claims = decodeJwt(token) as Record<string, unknown>
  } catch {
    throw new CliError('token: not a JWT (its header or claims do not decode)', EXIT.usage)
  }
  const signature = await checkSignature(ctx, token)
  let grant: unknown = null
  const jti = typeof claims.jti === 'string' ? claims.jti : undefined
  if (jti && ctx.env.WRIT_ADMIN_TOKEN) {
    try {
      grant = await adminApi(ctx, 'GET', `/admin/grants/${encodeURIComponent(jti)}`)
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== EXIT.error) throw err
      grant = { state: 'unknown', reason: err.message }
    }
  }
  if (ctx.out.json) return ctx.out.data({ header, claims, signature, grant })
  const time = (v: unknown) => (typeof v === 'number' ? new Date(v * 1000).toISOString().replace(/\.000Z$/, 'Z') : '-')
  const approval = claims.approval as { approvers?: Array<{ sub?: string; credential_id?: string }> } | undefined
  const state = grant as { state?: string; revocation?: { reason?: string; revoked_by?: string } } | null
  ctx.out.line(`${ctx.out.bold('token')}     ${String(header.alg)} kid ${String(header.kid)} typ ${String(header.typ)}`)
  ctx.out.line(`signature ${signature.valid ? ctx.out.green('valid') : ctx.out.red(`invalid: ${signature.reason}`)}`)
  ctx.out.line(`grant     ${jti ?? '-'}: ${state?.state ?? 'set WRIT_ADMIN_TOKEN to see its live state'}${state?.revocation ? ` (${state.revocation.reason ?? ''} by ${state.revocation.revoked_by ?? '?'})` : ''}`)
  ctx.out.line(`client    ${String(claims.client_id)}  task ${String((claims.task as { id?: string } | undefined)?.id ?? '-')}`)
  ctx.out.line(`scope     ${String(claims.scope ?? '')}`)
  ctx.out.line(`issued    ${time(claims.iat)}  expires ${time(claims.exp)}`)
  ctx.out.line(`bound     ${(claims.cnf as { jkt?: string } | undefined)?.jkt ? `DPoP key ${(claims.cnf as { jkt: string }).jkt}` : 'no (bearer)'}`)
  ctx.out.line(`approval  ${approval?.approvers?.map((a) => `${a.sub} (key ${a.credential_id})`).join(', ') ?? 'none needed'}`)
  ctx.out.line(`claims    ${JSON.stringify(claims)}`)
}

export function tokenInspectCommand(ctx: () => CliContext): Command {
  return new Command('inspect')
    .argument('<token>', 'the access token; - reads it from stdin')
    .description('show a token: header, claims, signature, its grant\'s live state and approval')
    .addHelpText(
      'after',
      `
Examples:
  export WRIT_URL=http://localhost:8080 WRIT_ADMIN_TOKEN=...   # from the start banner
  WRIT_CLIENT_SECRET=demo-secret writ token request examples/manifest.yaml --client demo-agent | writ token inspect -
  writ --json token inspect "$TOKEN"`,
    )
    .action((token: string) => tokenInspect(ctx(), token))
}
