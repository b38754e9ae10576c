import { Command } from 'commander'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'

/** What `GET /readyz` answers about a replica's policy. */
interface PolicyStatus {
  hash: string
  source: 'file' | 'store'
  generation?: number
  since: string
  refused?: { hash?: string; generation?: number; at: string }
}

interface ReplicaStatus {
  replica: string
  /** `ready`, `unavailable` (its store does not answer), or `unreachable` (no answer at all). */
  status: string
  store?: string
  policy?: PolicyStatus
  error?: string
}

async function readReplica(ctx: CliContext, base: string): Promise<ReplicaStatus> {
  let res: Response
  try {
    res = await ctx.fetch(`${base}/readyz`, { headers: { accept: 'application/json' } })
  } catch (err) {
    const cause = (err as { cause?: Error }).cause
    return { replica: base, status: 'unreachable', error: cause ? cause.message : (err as Error).message }
  }
  let body: { status?: string; store?: string; policy?: PolicyStatus }
  try {
    body = (await res.json()) as typeof body
  } catch {
    return { replica: base, status: 'unreachable', error: `answered ${res.status} with a non-JSON body: is it a writ broker?` }
  }
  return {
    replica: base,
    status: body.status ?? `HTTP ${res.status}`,
    ...(body.store ? { store: body.store } : {}),
    ...(body.policy ? { policy: body.policy } : {}),
  }
}

/** A replica URL as given: http(s), without a trailing slash. */
function replicaUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new CliError(`--replica ${JSON.stringify(raw)} is not a URL (e.g. http://10.0.0.5:8080)`, EXIT.usage)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--replica must be http(s), got ${url.protocol}`, EXIT.usage)
  }
  return url.toString().replace(/\/+$/, '')
}

/**
 * `writ status`: each replica's readiness and the policy it has in force (hash, source,
 * generation, since when, the last one it refused), from its `/readyz`. Exit 1 when a replica is
 * not ready or the replicas do not all have the same policy in force.
 */
export async function showStatus(ctx: CliContext, opts: { replica?: string[] }): Promise<void> {
  const bases = opts.replica && opts.replica.length > 0 ? opts.replica.map(replicaUrl) : [ctx.brokerUrl()]
  const replicas = await Promise.all(bases.map((base) => readReplica(ctx, base)))
  const hashes = new Set(replicas.flatMap((r) => (r.policy ? [r.policy.hash] : [])))
  const agree = hashes.size <= 1
  const ready = replicas.every((r) => r.status === 'ready')
  if (ctx.out.json) {
    ctx.out.data({ replicas, policy_agrees: agree })
  } else {
    ctx.out.table(
      ['REPLICA', 'STATUS', 'STORE', 'POLICY', 'SOURCE', 'GENERATION', 'SINCE', 'REFUSED'],
      replicas.map((r) => [
        r.replica,
        r.error ? `${r.status}: ${r.error}` : r.status,
        r.store ?? '-',
        r.policy?.hash ?? '-',
        r.policy?.source ?? '-',
        r.policy?.generation !== undefined ? String(r.policy.generation) : '-',
        r.policy?.since ?? '-',
        r.policy?.refused ? `${r.policy.refused.hash?.slice(0, 12) ?? '(unreadable)'} at ${r.policy.refused.at}` : '-',
      ]),
    )
    if (!agree) ctx.out.line(ctx.out.red(`the replicas have ${hashes.size} different policies in force`))
  }
  if (!agree || !ready) process.exitCode = EXIT.error
}

export function statusCommand(ctx: () => CliContext): Command {
  return new Command('status')
    .description("each replica's readiness and the policy it has in force (its hash), so divergence shows")
    .option(
      '--replica <url>',
      'a replica to ask (repeat for each); default: --url or WRIT_URL',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addHelpText(
      'after',
      '\nExamples:\n  writ status\n  writ status --replica http://10.0.0.5:8080 --replica http://10.0.0.6:8080',
    )
    .action((opts: { replica?: string[] }) => showStatus(ctx(), opts))
}
