import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
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

export function approvalsCommand(ctx: () => CliContext): Command {
  const cmd = new Command('approvals').description('approval requests waiting for a human')
  cmd
    .command('ls')
    .description('pending approval requests with their URLs')
    .addHelpText('after', '\nExample:\n  writ approvals ls')
    .action(() => listApprovals(ctx()))
  return cmd
}
