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

/**
 * `writ keys rotate`: next becomes current; current stays published until its tokens expire.
 * `--compromised`: fresh keys replace every key, every earlier key leaves the JWKS at once and
 * every live grant is revoked.
 */
export async function rotateKeys(
  ctx: CliContext,
  opts: { compromised?: boolean; reason?: string },
): Promise<void> {
  const body = opts.compromised
    ? { compromised: true, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) }
    : opts.reason !== undefined
      ? { reason: opts.reason }
      : {}
  const result = await adminApi<{ keys: KeyInfo[]; revoked?: number; withdrawn_kids?: string[] }>(
    ctx,
    'POST',
    '/admin/keys/rotate',
    body,
  )
  if (ctx.out.json) {
    return ctx.out.data(
      opts.compromised
        ? { keys: result.keys, revoked: result.revoked, withdrawn_kids: result.withdrawn_kids }
        : result.keys,
    )
  }
  const current = result.keys.find((k) => k.slot === 'current')
  ctx.out.line(`rotated: now signing with ${current?.kid ?? '?'}`)
  if (opts.compromised) {
    ctx.out.line(`withdrawn from the JWKS: ${result.withdrawn_kids?.join(', ') || '(none)'}`)
    ctx.out.line(`grants revoked: ${result.revoked ?? 0}`)
  }
}

export function keysCommand(ctx: () => CliContext): Command {
  const cmd = new Command('keys').description('signing keys')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ keys ls')
  cmd
    .command('ls')
    .description('list signing keys: next, current, previous')
    .addHelpText('after', '\nExample:\n  writ keys ls --json')
    .action(() => listKeys(ctx()))
  cmd
    .command('rotate')
    .option(
      '--compromised',
      'the keys may have leaked: fresh keys, every earlier key withdrawn at once, every grant revoked',
    )
    .option('--reason <text>', 'with --compromised: the reason kept in each revoked grant')
    .description('promote next to current; keep the old key published until its tokens expire')
    .addHelpText(
      'after',
      '\nExamples:\n  writ keys rotate\n  writ keys rotate --compromised --reason "key leaked in a core dump"',
    )
    .action((opts: { compromised?: boolean; reason?: string }) => rotateKeys(ctx(), opts))
  return cmd
}
