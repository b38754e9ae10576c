import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'

/** A lock as `GET /admin/locks` shows it. */
interface LockJson {
  id: string
  client_id?: string
  task_id?: string
  approver?: string
  reason: string
  by: string
  created_at: number
  expires_at?: number
}

export interface LockOptions {
  client?: string
  task?: string
  approver?: string
  ttl?: string
  reason?: string
  /** commander's `--no-revoke`: false keeps the target's live grants. */
  revoke?: boolean
}

// Anchored, no nested or overlapping quantifiers.
const TTL = /^(?:(\d{1,4})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,8})s)?$/

/** `--ttl`: a whole number of seconds, or days, hours, minutes and seconds (`90m`, `7d`, `1d12h`). */
export function parseLockTtl(text: string): number {
  const parts = /^\d{1,8}$/.test(text) ? [text, undefined, undefined, undefined, text] : TTL.exec(text)
  const [, d, h, m, s] = parts ?? []
  const seconds = Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)
  if (!parts || text === '' || !Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new CliError(`--ttl: expected a duration like 30m, 12h or 7d (got ${JSON.stringify(text)})`, EXIT.usage)
  }
  return seconds
}

const targetOf = (lock: LockJson): string =>
  lock.client_id !== undefined
    ? `client ${lock.client_id}`
    : lock.task_id !== undefined
      ? `task ${lock.task_id}`
      : `approver ${lock.approver ?? '-'}`

const until = (lock: LockJson): string =>
  lock.expires_at === undefined ? 'unlocked' : new Date(lock.expires_at * 1000).toISOString()

/**
 * `writ lock --client C | --task T | --approver A --reason R [--ttl D] [--no-revoke]`: every
 * replica refuses the target tokens, approvals and collections from now on; its live grants are
 * revoked unless `--no-revoke`. Prints the lock id (for `writ unlock`).
 */
export async function lock(ctx: CliContext, opts: LockOptions): Promise<void> {
  const targets: Array<[string, string]> = []
  if (opts.client !== undefined) targets.push(['client_id', opts.client])
  if (opts.task !== undefined) targets.push(['task_id', opts.task])
  if (opts.approver !== undefined) targets.push(['approver', opts.approver])
  if (targets.length !== 1) throw new CliError('name exactly one target: --client, --task or --approver', EXIT.usage)
  if (!opts.reason?.trim()) throw new CliError('--reason is required: say why (the refused caller sees it)', EXIT.usage)
  const [field, value] = targets[0]!
  const body = {
    [field]: value,
    reason: opts.reason,
    ...(opts.ttl !== undefined ? { ttl_seconds: parseLockTtl(opts.ttl) } : {}),
    ...(opts.revoke === false ? { revoke: false } : {}),
  }
  const result = await adminApi<{ lock: LockJson; revoked?: number }>(ctx, 'POST', '/admin/locks', body)
  if (ctx.out.json) return ctx.out.data(result)
  ctx.out.line(`locked ${targetOf(result.lock)} until ${until(result.lock)}: lock ${result.lock.id}`)
  if (result.revoked !== undefined) {
    ctx.out.line(`revoked ${result.revoked} live grant${result.revoked === 1 ? '' : 's'}`)
  }
}

/** `writ lock ls`: every active lock. */
export async function listLocks(ctx: CliContext): Promise<void> {
  const { locks } = await adminApi<{ locks: LockJson[] }>(ctx, 'GET', '/admin/locks')
  if (ctx.out.json) return ctx.out.data(locks)
  if (locks.length === 0) return ctx.out.line('no active locks')
  ctx.out.table(
    ['ID', 'TARGET', 'UNTIL', 'SINCE', 'REASON'],
    locks.map((l) => [l.id, targetOf(l), until(l), new Date(l.created_at * 1000).toISOString(), l.reason]),
  )
}

/** `writ unlock ID`: ends a lock at once on every replica. */
export async function unlock(ctx: CliContext, id: string): Promise<void> {
  if (!id.trim()) throw new CliError('name the lock: its id (see writ lock ls)', EXIT.usage)
  const { lock: ended } = await adminApi<{ lock: LockJson }>(ctx, 'DELETE', `/admin/locks/${encodeURIComponent(id)}`)
  if (ctx.out.json) return ctx.out.data(ended)
  ctx.out.line(`unlocked ${targetOf(ended)} (lock ${ended.id})`)
}

export function lockCommand(ctx: () => CliContext): Command {
  const cmd = new Command('lock')
    .option('--client <id>', 'lock this client')
    .option('--task <id>', 'lock this task, for every client')
    .option('--approver <id>', "lock this approver: their votes count for nothing")
    .option('--reason <text>', 'why (required): shown to the refused caller and audited')
    .option('--ttl <duration>', 'end the lock by itself after this long (30m, 12h, 7d); default: until unlocked')
    .option('--no-revoke', "keep the target's live grants (default: revoke them)")
    .description('refuse a client, task or approver every token, approval and collection, on every replica')
    .addHelpText(
      'after',
      `
Examples:
  writ lock --client build-agent --reason "leaked secret, rotating" --ttl 2h
  writ lock --task JIRA-4711 --reason "under investigation"
  writ lock ls
  writ unlock 3q2-7wEjRk6pXh5m2bW0Zg`,
    )
    .action((opts: LockOptions) => lock(ctx(), opts))
  cmd
    .command('ls')
    .description('active locks')
    .addHelpText('after', '\nExample:\n  writ lock ls --json')
    .action(() => listLocks(ctx()))
  return cmd
}

export function unlockCommand(ctx: () => CliContext): Command {
  return new Command('unlock')
    .argument('<id>', 'the lock id (see writ lock ls)')
    .description('end a lock at once, on every replica')
    .addHelpText('after', '\nExample:\n  writ unlock lk_3q2-7wEjRk6pXh5m2bW0Zg   # the id writ lock ls shows')
    .action((id: string) => unlock(ctx(), id))
}
