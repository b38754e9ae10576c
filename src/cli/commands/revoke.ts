import { createInterface } from 'node:readline/promises'
import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'

export interface RevokeOptions {
  task?: string
  client?: string
  approver?: string
  all?: boolean
  reason?: string
  yes?: boolean
}

/**
 * `writ revoke ID | --task T | --client C | --approver A | --all`: exactly one target. Bulk forms
 * ask for confirmation on a TTY unless `--yes`. Prints how many grants were revoked, and how many
 * of them were delegated from the ones named (revocation cascades to every descendant).
 */
export async function revoke(ctx: CliContext, id: string | undefined, opts: RevokeOptions): Promise<void> {
  const targets: Array<[string, unknown]> = []
  if (id) targets.push(['grant_id', id])
  if (opts.task) targets.push(['task_id', opts.task])
  if (opts.client) targets.push(['client_id', opts.client])
  if (opts.approver) targets.push(['approver', opts.approver])
  if (opts.all) targets.push(['all', true])
  if (targets.length !== 1) {
    throw new CliError('name exactly one target: a grant ID, --task, --client, --approver or --all', EXIT.usage)
  }
  const [field, value] = targets[0]!
  const bulk = field !== 'grant_id'
  if (bulk && !opts.yes) {
    if (!ctx.out.tty || !process.stdin.isTTY) {
      throw new CliError('bulk revocation needs confirmation: rerun with --yes', EXIT.usage)
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr })
    const what = field === 'all' ? 'EVERY live grant' : `every live grant of ${field.replace('_id', '')} ${String(value)}`
    const answer = await rl.question(`revoke ${what}? type "yes": `)
    rl.close()
    if (answer.trim() !== 'yes') throw new CliError('not revoked', EXIT.error)
  }
  const reason = opts.reason ?? 'revoked with the writ CLI'
  const result = await adminApi<{ revoked: number; descendants_revoked?: number; approvals_revoked?: number }>(
    ctx,
    'POST',
    '/admin/revocations',
    { [field]: value, reason },
    { idempotent: true },
  )
  const { revoked } = result
  const approvals = result.approvals_revoked ?? 0
  // Ensure a mistyped id is not reported as a success: nothing live had that id.
  if (field === 'grant_id' && revoked === 0 && approvals === 0) {
    throw new CliError(`grant ${String(value)}: not found among live grants (unknown, expired or already revoked)`, EXIT.error)
  }
  const descendants = result.descendants_revoked ?? 0
  if (ctx.out.json) return ctx.out.data({ revoked, descendants_revoked: descendants, approvals_revoked: approvals })
  ctx.out.line(`revoked ${revoked} grant${revoked === 1 ? '' : 's'}`)
  if (descendants > 0) {
    const were = descendants === 1 ? 'was a grant' : 'were grants'
    ctx.out.line(`  of which ${descendants} ${were} delegated from them (token exchange)`)
  }
  if (approvals > 0) {
    ctx.out.line(`ended ${approvals} approval request${approvals === 1 ? '' : 's'} not yet collected`)
  }
}

export function revokeCommand(ctx: () => CliContext): Command {
  return new Command('revoke')
    .argument('[id]', 'grant id (the token jti)')
    .option('--task <id>', 'every live grant of this task')
    .option('--client <id>', 'every live grant of this client')
    .option('--approver <id>', 'every live grant this approver approved (a lost key)')
    .option('--all', 'every live grant')
    .option('--reason <text>', 'recorded in the tombstone and the audit log')
    .option('-y, --yes', 'skip the confirmation of bulk forms')
    .description('revoke grants: the tokens stop verifying everywhere at once')
    .addHelpText(
      'after',
      `
Examples:
  writ revoke 3q2-7wEjRk6pXh5m2bW0Zg --reason "task finished"
  writ revoke --task JIRA-4711 --yes
  writ revoke --approver alice@example.com --reason "key lost"`,
    )
    .action((id: string | undefined, opts: RevokeOptions) => revoke(ctx(), id, opts))
}
