import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import type { CliContext } from '../context.js'
import { expiresIn } from '../output.js'

/** A live grant as the admin API lists it. */
export interface AdminGrant {
  id: string
  client_id: string
  task: { id: string; purpose?: string; requested_by?: string }
  authorization_details: Array<{ type: string; actions?: string[]; locations?: string[]; identifier?: string }>
  approval?: { id: string; approvers: Array<{ sub: string; aaguid?: string; at?: number }> }
  issued_at: number
  expires_at: number
  state?: string
}

const summary = (g: AdminGrant): string =>
  g.authorization_details
    .map((d) => `${d.type}:${(d.actions ?? []).join(',')}${d.identifier ? ` ${d.identifier}` : ''}`)
    .join('; ')

/** `writ grants ls`: live grants as a table (or JSON). */
export async function listGrants(ctx: CliContext, opts: { client?: string; task?: string }): Promise<void> {
  const query = new URLSearchParams()
  if (opts.client) query.set('client', opts.client)
  if (opts.task) query.set('task', opts.task)
  const qs = query.size ? `?${query}` : ''
  const { grants } = await adminApi<{ grants: AdminGrant[] }>(ctx, 'GET', `/admin/grants${qs}`)
  if (ctx.out.json) return ctx.out.data(grants)
  if (grants.length === 0) return ctx.out.line('no live grants')
  const now = Date.now()
  ctx.out.table(
    ['ID', 'CLIENT', 'TASK', 'GRANTS', 'APPROVED BY', 'EXPIRES IN'],
    grants.map((g) => [
      g.id,
      g.client_id,
      g.task.id,
      summary(g),
      g.approval?.approvers.map((a) => a.sub).join(', ') || '-',
      expiresIn(g.expires_at, now),
    ]),
  )
}

/** `writ grants show ID`: one grant in full, including its approvals, or its tombstone. */
export async function showGrant(ctx: CliContext, id: string): Promise<void> {
  const grant = await adminApi<Record<string, unknown>>(ctx, 'GET', `/admin/grants/${encodeURIComponent(id)}`)
  if (ctx.out.json) return ctx.out.data(grant)
  ctx.out.line(JSON.stringify(grant, null, 2))
}

export function grantsCommand(ctx: () => CliContext): Command {
  const cmd = new Command('grants').description('live grants')
  cmd
    .command('ls')
    .option('--client <id>', 'only this client')
    .option('--task <id>', 'only this task')
    .description('list live grants: id, client, task, grants, approvers, expiry')
    .addHelpText('after', '\nExamples:\n  writ grants ls\n  writ grants ls --client demo-agent --json')
    .action((opts: { client?: string; task?: string }) => listGrants(ctx(), opts))
  cmd
    .command('show')
    .argument('<id>', 'grant id (the token jti)')
    .description('one grant in full, including approvals; a revoked one shows its tombstone')
    .addHelpText('after', '\nExample:\n  writ grants show 3q2-7wEjRk6pXh5m2bW0Zg')
    .action((id: string) => showGrant(ctx(), id))
  return cmd
}
