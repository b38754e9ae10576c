import { Command } from 'commander'
import { adminApi } from '../admin-api.js'
import type { CliContext } from '../context.js'
import { expiresIn } from '../output.js'

/** A live grant as `GET /admin/grants` lists it. */
export interface AdminGrantSummary {
  id: string
  client_id: string
  task: { id: string; purpose?: string; requested_by?: string }
  /** One line per grant: `repo read on https://... docs/**`. */
  grants: string[]
  approved_by: string[]
  issued_at: number
  expires_at: number
}

/** `writ grants ls`: live grants as a table (or JSON). */
export async function listGrants(ctx: CliContext, opts: { client?: string; task?: string }): Promise<void> {
  const query = new URLSearchParams()
  if (opts.client) query.set('client', opts.client)
  if (opts.task) query.set('task', opts.task)
  const qs = query.size ? `?${query}` : ''
  const { grants, truncated } = await adminApi<{ grants: AdminGrantSummary[]; truncated?: boolean }>(
    ctx,
    'GET',
    `/admin/grants${qs}`,
  )
  if (ctx.out.json) return ctx.out.data(grants)
  if (grants.length === 0) return ctx.out.line('no live grants')
  const now = Date.now()
  ctx.out.table(
    ['ID', 'CLIENT', 'TASK', 'GRANTS', 'APPROVED BY', 'EXPIRES IN'],
    grants.map((g) => [
      g.id,
      g.client_id,
      g.task.id,
      g.grants.join('; '),
      g.approved_by.join(', ') || '-',
      expiresIn(g.expires_at, now),
    ]),
  )
  if (truncated) ctx.out.line(ctx.out.dim('(more grants exist: narrow with --client or --task)'))
}

interface GrantDetail {
  id: string
  client_id: string
  task: { id: string; purpose?: string; requested_by?: string }
  manifest_sha256: string
  authorization_details: Array<{ type: string; actions?: string[]; locations?: string[]; identifier?: string }>
  rule_ids: string[]
  approval?: { id: string; approvers: Array<{ sub: string; aaguid: string; credential_id: string; at: number }> }
  cnf?: { jkt: string }
  delegation?: GrantDelegation
  issued_at: number
  expires_at: number
}

interface GrantDelegation {
  parent: string
  parent_client: string
  depth: number
  max_depth: number
  subject: string
  act: { sub: string; act?: GrantDelegation['act'] }
}

interface Tombstone {
  grant_id: string
  client_id: string
  revoked_by: string
  reason: string
  revoked_at: number
  expires_at: number
}

/** A grant delegated from the one shown, with those delegated from it. */
interface TreeNode {
  id: string
  client_id: string
  state: 'live' | 'revoked' | 'unknown'
  expires_at?: number
  children: TreeNode[]
}

type Found = ({ state: 'live'; grant: GrantDetail } | { state: 'revoked'; revocation: Tombstone }) & {
  children?: TreeNode[]
  children_truncated?: boolean
}

/** Draws the tree of delegated grants under the one shown, one line per grant. */
function drawTree(ctx: CliContext, nodes: readonly TreeNode[], indent: string): void {
  const { out } = ctx
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1
    const state = n.state === 'live' ? out.green('live') : n.state === 'revoked' ? out.red('revoked') : out.dim('gone')
    const until = n.state === 'live' && n.expires_at ? `, expires in ${expiresIn(n.expires_at, Date.now())}` : ''
    out.line(`${indent}${last ? '└─' : '├─'} ${n.id} ${n.client_id} ${state}${until}`)
    drawTree(ctx, n.children, `${indent}${last ? '   ' : '│  '}`)
  })
}

/** The delegation lines of `writ grants show`: the parent and chain, then the tree below. */
function showDelegation(ctx: CliContext, found: Found, delegation: GrantDelegation | undefined): void {
  const { out } = ctx
  if (delegation) {
    const actors: string[] = []
    for (let act: GrantDelegation['act'] | undefined = delegation.act; act; act = act.act) actors.push(act.sub)
    out.line(`delegated from ${delegation.parent} (client ${delegation.parent_client}), depth ${delegation.depth} of ${delegation.max_depth}`)
    out.line(`  acting for ${delegation.subject}, actors ${actors.join(' ← ')}`)
  }
  const children = found.children ?? []
  if (children.length === 0) return
  out.line('delegated to')
  drawTree(ctx, children, '  ')
  if (found.children_truncated) out.line(out.dim('  (more than 1000 descendants: the tree is cut)'))
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000', '')

/**
 * `writ grants show ID`: one grant in full, including approvals, or its tombstone; for delegation
 * (token exchange), the parent and actor chain, and the tree of grants delegated from it.
 */
export async function showGrant(ctx: CliContext, id: string): Promise<void> {
  const found = await adminApi<Found>(ctx, 'GET', `/admin/grants/${encodeURIComponent(id)}`)
  if (ctx.out.json) return ctx.out.data(found)
  const { out } = ctx
  if (found.state === 'revoked') {
    const r = found.revocation
    out.line(`${out.bold('grant')}    ${r.grant_id} ${out.red('revoked')}`)
    out.line(`client   ${r.client_id}`)
    out.line(`revoked  ${iso(r.revoked_at)} by ${r.revoked_by}: ${r.reason}`)
    out.line(`would have expired ${iso(r.expires_at)}`)
    showDelegation(ctx, found, undefined)
    return
  }
  const g = found.grant
  out.line(`${out.bold('grant')}    ${g.id} ${out.green('live')}, expires in ${expiresIn(g.expires_at, Date.now())}`)
  out.line(`client   ${g.client_id}`)
  const purpose = g.task.purpose ? ` — ${g.task.purpose}` : ''
  const by = g.task.requested_by ? ` (requested by ${g.task.requested_by})` : ''
  out.line(`task     ${g.task.id}${purpose}${by}`)
  out.line(`issued   ${iso(g.issued_at)}, expires ${iso(g.expires_at)}`)
  out.line(`manifest sha256 ${g.manifest_sha256}`)
  if (g.cnf) out.line(`bound to DPoP key ${g.cnf.jkt}`)
  out.line('grants')
  g.authorization_details.forEach((d, i) => {
    const where = [...(d.locations ?? []), d.identifier ?? ''].filter(Boolean).join(' ')
    out.line(`  ${d.type} ${(d.actions ?? []).join(',')} ${where}  ${out.dim(`rule ${g.rule_ids[i] ?? '?'}`)}`)
  })
  if (g.approval) {
    out.line(`approval ${g.approval.id}`)
    for (const a of g.approval.approvers) {
      out.line(`  ${a.sub} with key ${a.credential_id} (AAGUID ${a.aaguid}) at ${iso(a.at)}`)
    }
  } else {
    out.line(g.delegation ? 'approval none needed (delegated: covered by its parent)' : 'approval none needed')
  }
  showDelegation(ctx, found, g.delegation)
}

export function grantsCommand(ctx: () => CliContext): Command {
  const cmd = new Command('grants').description('live grants')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ grants ls --client demo-agent')
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
    .description('one grant in full, including approvals and the grants delegated from it; a revoked one shows its tombstone')
    .addHelpText('after', '\nExample:\n  writ grants show 3q2-7wEjRk6pXh5m2bW0Zg')
    .action((id: string) => showGrant(ctx(), id))
  return cmd
}
