import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'
import { expiresIn } from '../output.js'

interface PendingApproval {
  id: string
  approval_uri: string
  client_id: string
  task: { id: string; purpose?: string }
  grants: string[]
  requirements: Array<{ rule: string; approvers: number; from: string }>
  approved_by: string[]
  expires_at: number
}

/** `writ approvals ls`: approval requests waiting for a human, with the URL to open. */
export async function listApprovals(ctx: CliContext): Promise<void> {
  const { approvals } = await adminApi<{ approvals: PendingApproval[] }>(ctx, 'GET', '/admin/approvals')
  if (ctx.out.json) return ctx.out.data(approvals)
  if (approvals.length === 0) return ctx.out.line('no pending approval requests')
  const now = Date.now()
  ctx.out.table(
    ['CLIENT', 'TASK', 'GRANTS', 'NEEDS', 'APPROVED BY', 'EXPIRES IN', 'URL'],
    approvals.map((a) => [
      a.client_id,
      a.task.id,
      a.grants.join('; '),
      a.requirements.map((r) => `${r.approvers} of ${r.from}`).join(', '),
      a.approved_by.join(', ') || '-',
      expiresIn(a.expires_at, now),
      a.approval_uri,
    ]),
  )
}

/** `writ approvals cancel ID --reason R`: ends one open approval request; its agent is refused. */
export async function cancelApproval(ctx: CliContext, id: string, opts: { reason?: string }): Promise<void> {
  if (!opts.reason) throw new CliError('--reason: required (recorded in the audit log)', EXIT.usage)
  const result = await adminApi<{ approval_id: string; status: string }>(
    ctx,
    'POST',
    `/admin/approvals/${encodeURIComponent(id)}/cancel`,
    { reason: opts.reason },
    { idempotent: true },
  )
  if (ctx.out.json) return ctx.out.data(result)
  ctx.out.line(`cancelled approval request ${result.approval_id}: its agent's poll is refused (access_denied)`)
}

export function approvalsCommand(ctx: () => CliContext): Command {
  const cmd = new Command('approvals').description('approval requests waiting for a human')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ approvals ls')
  cmd
    .command('ls')
    .description('pending approval requests with their URLs')
    .addHelpText('after', '\nExample:\n  writ approvals ls')
    .action(() => listApprovals(ctx()))
  cmd
    .command('cancel')
    .argument('<id>', 'approval request id (the last part of its approval URL)')
    .option('--reason <text>', 'why: recorded in the audit log (required)')
    .description('end an open approval request: nobody can approve it any more and its agent is refused')
    .addHelpText('after', '\nExample:\n  writ approvals cancel Yp3pQ9m2bW0ZgRk6pXh5 --reason "wrong release"')
    .action((id: string, opts: { reason?: string }) => cancelApproval(ctx(), id, opts))
  return cmd
}
