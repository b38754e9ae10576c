import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import type { CliContext } from '../context.js'

interface KeyInfo {
  kid: string
  alg: string
  slot: string
  createdAt?: number
  activatedAt?: number
  retiredAt?: number
}

/** `writ keys ls`: the signing keys and their slots (next, current, previous). */
export async function listKeys(ctx: CliContext): Promise<void> {
  const { keys } = await adminApi<{ keys: KeyInfo[] }>(ctx, 'GET', '/admin/keys')
  if (ctx.out.json) return ctx.out.data(keys)
  const when = (s?: number) => (s ? new Date(s * 1000).toISOString().replace('.000', '') : '-')
  ctx.out.table(
    ['SLOT', 'KID', 'ALG', 'CREATED', 'SIGNING SINCE', 'RETIRED'],
    keys.map((k) => [k.slot, k.kid, k.alg, when(k.createdAt), when(k.activatedAt), when(k.retiredAt)]),
  )
}

/** `writ keys rotate`: next becomes current; current stays published until its tokens expire. */
export async function rotateKeys(ctx: CliContext, opts: { force?: boolean }): Promise<void> {
  const result = await adminApi<{ keys: KeyInfo[] }>(ctx, 'POST', '/admin/keys/rotate', { force: Boolean(opts.force) })
  if (ctx.out.json) return ctx.out.data(result.keys)
  const current = result.keys.find((k) => k.slot === 'current')
  ctx.out.line(`rotated: now signing with ${current?.kid ?? '?'}`)
}

export function keysCommand(ctx: () => CliContext): Command {
  const cmd = new Command('keys').description('signing keys')
  cmd
    .command('ls')
    .description('list signing keys: next, current, previous')
    .addHelpText('after', '\nExample:\n  writ keys ls --json')
    .action(() => listKeys(ctx()))
  cmd
    .command('rotate')
    .option('--force', 'rotate even while the previous key still covers live tokens (compromise)')
    .description('promote next to current; keep the old key published until its tokens expire')
    .addHelpText('after', '\nExample:\n  writ keys rotate')
    .action((opts: { force?: boolean }) => rotateKeys(ctx(), opts))
  return cmd
}
