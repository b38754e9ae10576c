import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'

interface EnrolledKey {
  credential_id: string
  approver: string
  group: string
  aaguid: string
  /** RFC 7638 thumbprint of the key, as its `approver.enrolled` audit event records it. */
  public_key_thumbprint: string
  fmt: string
  counter: number
  enrolled_at: number
  flagged?: { reason: string; at: number; detail: string }
}

/** `writ approvers invite EMAIL --group G`: a one-time enrolment link for that person only. */
export async function inviteApprover(ctx: CliContext, approver: string, opts: { group: string }): Promise<void> {
  const invite = await adminApi<{ invite_url: string; approver: string; group: string; expires_at: number }>(
    ctx,
    'POST',
    '/admin/approvers/invites',
    { approver, group: opts.group },
  )
  if (ctx.out.json) return ctx.out.data(invite)
  ctx.out.line(`enrolment link for ${invite.approver} (${invite.group}), valid until ${new Date(invite.expires_at * 1000).toISOString()}:`)
  ctx.out.line(`  ${invite.invite_url}`)
  ctx.out.line(ctx.out.dim('send it to that person only: whoever opens it enrols a key as them.'))
}

/**
 * `writ approvers ls`: enrolled security keys and their state, each with its public key's
 * thumbprint (compare it with the key's `approver.enrolled` event in the audit chain).
 */
export async function listApprovers(ctx: CliContext, opts: { approver?: string }): Promise<void> {
  const qs = opts.approver ? `?approver=${encodeURIComponent(opts.approver)}` : ''
  const { keys } = await adminApi<{ keys: EnrolledKey[] }>(ctx, 'GET', `/admin/approvers/keys${qs}`)
  if (ctx.out.json) return ctx.out.data(keys)
  if (keys.length === 0) return ctx.out.line('no enrolled keys')
  ctx.out.table(
    ['APPROVER', 'GROUP', 'CREDENTIAL ID', 'AAGUID', 'PUBLIC KEY', 'FORMAT', 'STATE'],
    keys.map((k) => [
      k.approver,
      k.group,
      k.credential_id,
      k.aaguid,
      k.public_key_thumbprint,
      k.fmt,
      k.flagged ? ctx.out.red(`${k.flagged.reason}: ${k.flagged.detail}`) : 'active',
    ]),
  )
}

/** `writ approvers disable CREDENTIAL_ID [--revoke]`: a lost key approves nothing more. */
export async function disableApproverKey(
  ctx: CliContext,
  credentialId: string,
  opts: { revoke?: boolean; reason?: string },
): Promise<void> {
  if (!credentialId.trim()) throw new CliError('name the key: its credential id (see writ approvers ls)', EXIT.usage)
  const result = await adminApi<{ disabled: true; approver: string; revoked?: number; approvals_revoked?: number }>(
    ctx,
    'POST',
    `/admin/approvers/keys/${encodeURIComponent(credentialId)}/disable`,
    { reason: opts.reason ?? 'disabled with the writ CLI', ...(opts.revoke ? { revoke: true } : {}) },
    { idempotent: true },
  )
  if (ctx.out.json) return ctx.out.data(result)
  ctx.out.line(`disabled key ${credentialId} of ${result.approver}`)
  if (result.revoked !== undefined) ctx.out.line(`revoked ${result.revoked} grant${result.revoked === 1 ? '' : 's'} ${result.approver} approved`)
  const approvals = result.approvals_revoked ?? 0
  if (approvals > 0) {
    const requests = `approval request${approvals === 1 ? '' : 's'}`
    ctx.out.line(`ended ${approvals} ${requests} ${result.approver} approved, not yet collected`)
  }
}

export function approversCommand(ctx: () => CliContext): Command {
  const cmd = new Command('approvers').description('approvers and their security keys')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ approvers invite alice@example.com --group release-managers')
  cmd
    .command('invite')
    .argument('<approver>', "the person's id as the policy's approver group lists it (an email)")
    .requiredOption('--group <id>', 'the approver group they approve for')
    .description('a one-time enrolment link (prints it)')
    .addHelpText('after', '\nExample:\n  writ approvers invite alice@example.com --group release-managers')
    .action((approver: string, opts: { group: string }) => inviteApprover(ctx(), approver, opts))
  cmd
    .command('ls')
    .option('--approver <id>', 'only this person')
    .description('enrolled security keys and their state')
    .addHelpText('after', '\nExample:\n  writ approvers ls --approver alice@example.com')
    .action((opts: { approver?: string }) => listApprovers(ctx(), opts))
  cmd
    .command('disable')
    .argument('<credential-id>', 'the key (see writ approvers ls)')
    .option('--revoke', 'also revoke every live grant this person approved')
    .option('--reason <text>', 'recorded with the key and in the audit log')
    .description('disable a lost or stolen key')
    .addHelpText(
      'after',
      '\nExamples:\n  writ approvers disable hT3...Qw --revoke --reason "lost on a train"\n  writ approvers disable --reason lost -- -Qw3...hT   # an id starting with - goes last, after --',
    )
    .action((id: string, opts: { revoke?: boolean; reason?: string }) => disableApproverKey(ctx(), id, opts))
  return cmd
}
