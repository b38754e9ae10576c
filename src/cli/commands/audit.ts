import { readFileSync, writeFileSync } from 'node:fs'
import { Command } from 'commander'
import type { JWK } from 'jose'
import type { ApprovalEvidence } from '../../approvals/types.js'
import type { TrustAnchors } from '../../approvals/enrolment/load-trust-anchors.js'
import type { AuditEvent } from '../../audit/types.js'
import { sealDigest, verifyChain, type ChainVerification } from '../../audit/verify-chain.js'
import { systemClock } from '../../clock.js'
import { ConfigError } from '../../config.js'
import { escapeUnsafeText } from '../../text/escape-unsafe-text.js'
import { adminApi } from '../admin-api.js'
import { AUDIT_EVENT_LINES } from '../audit-event-lines.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'
import { snakeKeys } from '../snake-keys.js'

/** Events one export request asks for (the broker's maximum). */
const PAGE = 10_000

interface AuditPage {
  events: AuditEvent[]
  seal: string | null
  next_since: number
  more: boolean
}

/** One event as a line a person reads: what happened, to what, by whom (see `AUDIT_EVENT_LINES`). */
export function describeAuditEvent(event: AuditEvent): string {
  const line = (AUDIT_EVENT_LINES as Record<string, ((e: AuditEvent) => string) | undefined>)[
    event.type
  ]
  if (line) return line(event)
  // A type this CLI does not know (a newer broker's): its fields, as JSON.
  const { seq: _s, time: _t, type: _y, prev: _p, hash: _h, ...rest } = event as unknown as Record<
    string,
    unknown
  >
  return JSON.stringify(rest)
}

/** One line per event: what an event holds never breaks the line or reaches the terminal raw. */
function printEvents(ctx: CliContext, events: AuditEvent[]): void {
  for (const e of events) {
    if (ctx.out.json) ctx.out.line(JSON.stringify(e))
    else {
      const line = `${e.time}  #${e.seq}  ${String(e.type).padEnd(18)} ${describeAuditEvent(e)}`
      ctx.out.line(escapeUnsafeText(line))
    }
  }
}

function sinceQuery(since: string | undefined): string {
  return since === undefined ? '' : `&since=${encodeURIComponent(since)}`
}

export interface TailOptions {
  follow?: boolean
  since?: string
  limit?: string
  /** Seconds between polls with --follow. */
  interval?: string
}

/**
 * `writ audit tail [-f]`: the latest events (or from `--since`), readable or as JSON lines; with
 * `-f`, keeps polling for new ones until interrupted (or `signal` aborts).
 */
export async function tailAudit(
  ctx: CliContext,
  opts: TailOptions,
  signal?: AbortSignal,
): Promise<void> {
  const limit = opts.limit === undefined ? 20 : Number(opts.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE) {
    throw new CliError(`--limit: expected a whole number from 1 to ${PAGE}`, EXIT.usage)
  }
  const intervalMs = (opts.interval === undefined ? 2 : Number(opts.interval)) * 1000
  if (!(intervalMs >= 100)) {
    throw new CliError('--interval: expected seconds, at least 0.1', EXIT.usage)
  }
  let since = opts.since
  if (since === undefined) {
    // The last `limit` events: start that far before the head.
    const { head } = await adminApi<{ head: { seq: number } }>(ctx, 'GET', '/admin/audit?limit=1')
    since = String(Math.max(1, head.seq - limit + 1))
  }
  for (;;) {
    const path = `/admin/audit?limit=${opts.follow ? PAGE : limit}${sinceQuery(since)}`
    const page: AuditPage = await adminApi<AuditPage>(ctx, 'GET', path)
    printEvents(ctx, page.events)
    since = String(page.next_since)
    if (!opts.follow || signal?.aborted) return
    if (!page.more) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs)
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
      if (signal?.aborted) return
    }
  }
}

/** `writ audit show --grant G | --task T`: the story of one grant or task, in order. */
export async function showAudit(
  ctx: CliContext,
  opts: { grant?: string; task?: string },
): Promise<void> {
  if ((opts.grant === undefined) === (opts.task === undefined)) {
    throw new CliError('name exactly one of --grant, --task', EXIT.usage)
  }
  const query =
    opts.grant !== undefined
      ? `grant=${encodeURIComponent(opts.grant)}`
      : `task=${encodeURIComponent(opts.task!)}`
  const story = `/admin/audit/story?${query}`
  const { events } = await adminApi<{ events: AuditEvent[] }>(ctx, 'GET', story)
  if (ctx.out.json) return ctx.out.data(events)
  const subject = opts.grant !== undefined ? `grant ${opts.grant}` : `task ${opts.task}`
  if (events.length === 0) throw new CliError(`no audit events for ${subject}`)
  ctx.out.line(ctx.out.bold(subject))
  printEvents(ctx, events)
}

/**
 * `writ audit export [--since] [--out FILE]`: JSON Lines, page after page, each page ended by the
 * broker's seal, which names the seal of the page before (so no page can be cut off unnoticed).
 * Recorded by the broker as an export (trimming needs one).
 */
export async function exportAuditLog(
  ctx: CliContext,
  opts: { since?: string; out?: string },
): Promise<void> {
  const base = ctx.brokerUrl()
  const token = await ctx.secret('WRIT_ADMIN_TOKEN', 'admin token')
  let since = opts.since
  let text = ''
  let events = 0
  let prevSeal = ''
  for (;;) {
    let res: Response
    try {
      res = await ctx.fetch(`${base}/admin/audit?format=jsonl&limit=${PAGE}${sinceQuery(since)}${prevSeal}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' },
      })
    } catch (err) {
      throw new CliError(`cannot reach the broker at ${base}: ${(err as Error).message}`)
    }
    const body = await res.text()
    if (!res.ok) {
      let reason = `HTTP ${res.status}`
      try {
        reason = (JSON.parse(body) as { error_description?: string }).error_description ?? reason
      } catch {
        // Not JSON: keep the status.
      }
      throw new CliError(reason, res.status === 400 ? EXIT.usage : EXIT.error)
    }
    text += body
    const lines = body.split('\n').filter((l) => l !== '')
    events += lines.filter((l) => !l.includes('"type":"audit.seal"')).length
    const seal = lines.at(-1)
    if (seal?.includes('"type":"audit.seal"')) {
      prevSeal = `&prev_seal=${sealDigest((JSON.parse(seal) as { seal: string }).seal)}`
    }
    since = res.headers.get('x-audit-next-since') ?? undefined
    if (res.headers.get('x-audit-more') !== 'true' || !since) break
  }
  if (opts.out) {
    writeFileSync(opts.out, text)
    ctx.out.error(`exported ${events} events to ${opts.out}`)
  } else if (text) {
    ctx.out.line(text.replace(/\n$/, ''))
  }
}

/** The trusted keys: `--jwks` (a file or URL), else the broker's published JWKS. */
async function trustedKeys(ctx: CliContext, jwks: string | undefined): Promise<JWK[]> {
  const parse = (text: string, where: string): JWK[] => {
    try {
      const value = JSON.parse(text) as { keys?: JWK[] } | JWK[]
      const keys = Array.isArray(value) ? value : value.keys
      if (!Array.isArray(keys)) throw new Error('no keys')
      return keys
    } catch {
      throw new CliError(`${where}: expected a JWKS ({"keys": [...]})`, EXIT.usage)
    }
  }
  const url =
    jwks === undefined
      ? `${ctx.brokerUrl()}/.well-known/jwks.json`
      : /^https?:\/\//.test(jwks)
        ? jwks
        : undefined
  if (url === undefined) {
    let text: string
    try {
      text = readFileSync(jwks!, 'utf8')
    } catch (err) {
      throw new CliError(`--jwks ${jwks}: ${(err as Error).message}`, EXIT.usage)
    }
    return parse(text, `--jwks ${jwks}`)
  }
  let res: Response
  try {
    res = await ctx.fetch(url)
  } catch (err) {
    throw new CliError(`cannot fetch the JWKS at ${url}: ${(err as Error).message}`)
  }
  if (!res.ok) throw new CliError(`the JWKS at ${url} answered ${res.status}`)
  return parse(await res.text(), url)
}

export interface VerifyOptions {
  jwks?: string
  /** An earlier export this one must continue (`--after PREVIOUS_EXPORT`). */
  after?: string
  /** Commander's `--no-seal`: false accepts an export without a seal (a tail). */
  seal?: boolean
  issuer?: string
  /** Test hook: the file's text instead of reading it. */
  text?: string
}

/**
 * `writ audit verify [FILE]`: checks an export (FILE, or stdin) offline against the broker's keys:
 * the chain, every checkpoint and the seal. Names the first bad event and exits 1 when anything
 * is wrong.
 */
export async function verifyAudit(
  ctx: CliContext,
  file: string | undefined,
  opts: VerifyOptions,
): Promise<void> {
  let text = opts.text
  if (text === undefined) {
    try {
      text = readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8')
    } catch (err) {
      throw new CliError(`${file ?? 'stdin'}: ${(err as Error).message}`, EXIT.usage)
    }
  }
  const keys = await trustedKeys(ctx, opts.jwks)
  const keysSource = opts.jwks === undefined ? "in the broker's published JWKS" : `in --jwks ${opts.jwks}`
  let after: ChainVerification | undefined
  if (opts.after !== undefined) {
    // Ensure the earlier export verifies on its own, to its last page, before this one continues it.
    let earlier: string
    try {
      earlier = readFileSync(opts.after, 'utf8')
    } catch (err) {
      throw new CliError(`--after ${opts.after}: ${(err as Error).message}`, EXIT.usage)
    }
    after = await verifyChain(earlier, { keys, keysSource, ...(opts.issuer ? { issuer: opts.issuer } : {}) })
    if (!after.ok) {
      const p = after.problem!
      throw new CliError(`--after ${opts.after} line ${p.line}${p.seq === undefined ? '' : ` (seq ${p.seq})`}: ${p.reason}`)
    }
    if (after.lastSeq === null || after.lastHash === null) {
      throw new CliError(`--after ${opts.after}: holds no events to continue`, EXIT.usage)
    }
  }
  const result = await verifyChain(text, {
    // Keys the earlier export's chain vouched for stay trusted in this one.
    keys: after ? [...keys, ...after.trustedJwks.filter((k) => !keys.some((g) => g.kid === k.kid))] : keys,
    keysSource,
    requireSeal: opts.seal !== false,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(after ? { after: { lastSeq: after.lastSeq!, lastHash: after.lastHash! } } : {}),
  })
  if (ctx.out.json) {
    ctx.out.data(snakeKeys(result))
  } else {
    if (result.ok) {
      const range = result.events ? `seq ${result.firstSeq} to ${result.lastSeq}` : 'no events'
      ctx.out.line(
        `${ctx.out.green('ok')}: ${result.events} events (${range}), ${result.checkpoints} signed checkpoint${result.checkpoints === 1 ? '' : 's'}, ${result.sealed ? `sealed (${result.pages} page${result.pages === 1 ? '' : 's'}${result.complete ? ', the last one included' : ''})` : `not sealed; signed through seq ${result.anchoredThroughSeq ?? '-'}`}`,
      )
      if (result.anchor) ctx.out.line(`starts at: ${result.anchor}`)
    }
    // Which keys were trusted, and why: what the verdict rests on.
    for (const key of result.keys) {
      if (key.checkpoints === 0 && key.seals === 0) continue
      ctx.out.line(`trusted key ${key.kid}: ${key.why}; signed ${key.checkpoints} checkpoint${key.checkpoints === 1 ? '' : 's'}, ${key.seals} seal${key.seals === 1 ? '' : 's'}`)
    }
  }
  if (!result.ok) {
    const p = result.problem!
    const seq = p.seq === undefined ? '' : ` (seq ${p.seq})`
    throw new CliError(`${file ?? 'stdin'} line ${p.line}${seq}: ${p.reason}`)
  }
}

export interface VerifyApprovalOptions {
  /** The audit chain export (JSON Lines) the enrolments and the grant are read from. */
  chain?: string
  /** The evidence as a file; default: fetched from the broker (it is trusted for nothing). */
  evidence?: string
  /** Attestation trust anchors: root certificate PEM files, and/or a FIDO MDS BLOB and its root. */
  roots?: string[]
  mdsBlob?: string
  mdsRoot?: string
  /** Authenticator models accepted (AAGUIDs); default: any model the trust anchors vouch for. */
  aaguid?: string[]
  jwks?: string
  issuer?: string
}

const AAGUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The auditor's attestation trust anchors, from local files only. */
async function auditorTrustAnchors(opts: VerifyApprovalOptions): Promise<TrustAnchors> {
  if ((opts.roots ?? []).length === 0 && opts.mdsBlob === undefined) {
    throw new CliError(
      'name the attestation trust anchors the approvers\' keys must chain to: --roots FILE (PEM) and/or --mds-blob FILE --mds-root FILE',
      EXIT.usage,
    )
  }
  try {
    // WebAuthn attestation code loads only for the command that needs it, not on every start.
    const { loadTrustAnchors } = await import('../../approvals/enrolment/load-trust-anchors.js')
    return await loadTrustAnchors({
      rootCertificateFiles: opts.roots ?? [],
      mdsBlobFile: opts.mdsBlob,
      mdsRootCertificateFile: opts.mdsRoot,
      readFile: (path) => readFileSync(path, 'utf8'),
      clock: systemClock,
    })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const flags = err.problems.map((p) =>
      p
        .replace('approvals.attestation.rootCertificateFiles', '--roots')
        .replace('approvals.attestation.mdsBlobFile', '--mds-blob')
        .replace(/approvals\.attestation\.mdsRootCertificateFile(: required with mdsBlobFile)?/, (_m, req) => (req ? '--mds-root: required with --mds-blob' : '--mds-root')),
    )
    throw new CliError(flags.join('; '), EXIT.usage)
  }
}

/** A JSON file the auditor holds. */
function readJsonFile(path: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new CliError(`${flag} ${path}: ${(err as Error).message}`, EXIT.usage)
  }
}

/**
 * `writ audit verify-approval GRANT --chain FILE --roots PEM`: re-checks offline, with no trust in
 * the broker, that the approvers' security keys signed exactly this grant's manifest. The chain
 * export (verified against the JWKS first) is the only source of the grant's record and of the
 * approvers' keys: each vote must verify under the key its `approver.enrolled` event recorded,
 * whose attestation must chain to the given trust anchors. The evidence (from `--evidence` or the
 * broker) supplies only the assertions and the manifest.
 */
export async function verifyApproval(ctx: CliContext, grantId: string, opts: VerifyApprovalOptions): Promise<void> {
  if (opts.chain === undefined) {
    throw new CliError(
      'name the audit chain export the approvers\' keys are read from: --chain FILE (writ audit export --out FILE)',
      EXIT.usage,
    )
  }
  const allowed = (opts.aaguid ?? []).map((a) => a.toLowerCase())
  const bad = allowed.find((a) => !AAGUID.test(a))
  if (bad !== undefined) throw new CliError(`--aaguid ${bad}: expected an AAGUID (UUID form)`, EXIT.usage)
  let chain: string
  try {
    chain = readFileSync(opts.chain, 'utf8')
  } catch (err) {
    throw new CliError(`--chain ${opts.chain}: ${(err as Error).message}`, EXIT.usage)
  }
  const trust = await auditorTrustAnchors(opts)
  for (const warning of trust.warnings) ctx.out.error(`warning: ${warning}`)
  const jwks = await trustedKeys(ctx, opts.jwks)
  let evidence: ApprovalEvidence
  if (opts.evidence !== undefined) {
    evidence = readJsonFile(opts.evidence, '--evidence') as ApprovalEvidence
  } else {
    const approval = approvalOfGrant(chain, grantId)
    if (approval === undefined) {
      throw new CliError(`grant ${grantId} was issued without a human approval, or is not in ${opts.chain}: nothing to verify`)
    }
    evidence = await adminApi<ApprovalEvidence>(ctx, 'GET', `/admin/approvals/${encodeURIComponent(approval)}/evidence`)
  }
  const { verifyApprovalFromChain } = await import('../../approvals/evidence/verify-approval-from-chain.js')
  const result = await verifyApprovalFromChain(
    { grantId, evidence, chain },
    {
      jwks,
      trust,
      ...(allowed.length > 0 ? { allowedAaguids: new Set(allowed) } : {}),
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
    },
  )
  if (ctx.out.json) {
    ctx.out.data({
      ok: result.ok,
      grant: grantId,
      grant_seq: result.grantSeq,
      approval: result.approvalId,
      manifest_sha256: result.manifestSha256,
      keys: snakeKeys(result.keys),
      votes: result.votes,
      problems: result.problems,
    })
  } else {
    ctx.out.line(`grant ${grantId} (seq ${result.grantSeq ?? '-'}), approval ${result.approvalId ?? '-'}, manifest ${result.manifestSha256 ?? '-'}`)
    for (const v of result.votes) {
      const key = result.keys.find((k) => k.credentialId === v.credentialId)
      const enrolled = key?.enrolledAtSeq ? ` enrolled at seq ${key.enrolledAtSeq} (public key ${key.thumbprint ?? '-'})` : ''
      const mark = v.ok ? ctx.out.green('ok') : ctx.out.red('BAD')
      ctx.out.line(`  ${mark}  ${v.sub}, key ${v.credentialId}${enrolled}${v.problem ? `: ${v.problem}` : ''}`)
    }
    if (result.ok) {
      ctx.out.line(`${ctx.out.green('ok')}: every approver's key, as enrolled in the audit chain, signed this exact manifest`)
    }
  }
  if (!result.ok) throw new CliError(`approval evidence does not verify: ${result.problems.join('; ')}`)
}

/** The approval a grant's `grant.issued` event names in an export, if any (to fetch its evidence). */
function approvalOfGrant(chain: string, grantId: string): string | undefined {
  for (const line of chain.split('\n')) {
    if (!line.includes(grantId)) continue
    try {
      const event = JSON.parse(line) as { type?: unknown; grant?: unknown; approval?: unknown }
      if (event.type === 'grant.issued' && event.grant === grantId && typeof event.approval === 'string') return event.approval
    } catch {
      // Not an event: verifyApprovalFromChain names it.
    }
  }
  return undefined
}

export function auditCommand(ctx: () => CliContext): Command {
  const cmd = new Command('audit').description('the hash-chained audit log: read, export, verify')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ audit tail -f')
  cmd
    .command('tail')
    .option('-f, --follow', 'keep printing new events')
    .option('--since <seq|time>', 'start at this seq or RFC 3339 time (default: the last --limit events)')
    .option('--limit <n>', 'how many of the latest events (default 20)')
    .option('--interval <seconds>', 'poll interval with --follow (default 2)')
    .description('the latest audit events, readable (or JSON lines with --json)')
    .addHelpText('after', '\nExamples:\n  writ audit tail\n  writ audit tail -f --json | jq .')
    .action((opts: TailOptions) => tailAudit(ctx(), opts))
  cmd
    .command('show')
    .option('--grant <id>', 'the story of one grant (the token jti)')
    .option('--task <id>', 'the story of one task')
    .description('everything about one grant or task, in order: request, decision, approvals, revocation')
    .addHelpText('after', '\nExamples:\n  writ audit show --grant 3q2-7wEjRk6pXh5m2bW0Zg\n  writ audit show --task JIRA-4711')
    .action((opts: { grant?: string; task?: string }) => showAudit(ctx(), opts))
  cmd
    .command('export')
    .option('--since <seq|time>', 'start at this seq or RFC 3339 time (default: the oldest kept)')
    .option('--out <file>', 'write to a file instead of stdout')
    .description('JSON Lines for a SIEM, each page sealed by the broker; recorded as an export')
    .addHelpText('after', '\nExamples:\n  writ audit export --out audit.jsonl\n  writ audit export --since 2026-01-01T00:00:00Z > january.jsonl')
    .action((opts: { since?: string; out?: string }) => exportAuditLog(ctx(), opts))
  cmd
    .command('verify')
    .argument('[file]', 'an export (default: stdin)')
    .option('--jwks <file|url>', 'trusted keys (default: the broker\'s /.well-known/jwks.json)')
    .option('--issuer <url>', 'require this iss in checkpoints and seals')
    .option('--no-seal', 'accept input without an export seal (a tail)')
    .option('--after <file>', 'an earlier export this one must continue without a gap (it is verified too)')
    .description('check the chain, checkpoints and seals offline; lists the keys trusted and why; names the first bad event')
    .addHelpText('after', '\nExamples:\n  writ audit verify audit.jsonl\n  writ audit verify audit.jsonl --jwks jwks.json\n  writ audit verify february.jsonl --after january.jsonl --jwks jwks.json')
    .action((file: string | undefined, opts: VerifyOptions) => verifyAudit(ctx(), file, opts))
  cmd
    .command('verify-approval')
    .argument('<grant>', 'grant id')
    .option('--chain <file>', 'the audit export (JSON Lines, from seq 1) the grant and the keys are read from')
    .option('--roots <files...>', 'attestation root certificates (PEM) the keys must chain to')
    .option('--mds-blob <file>', 'a FIDO MDS3 BLOB (local file) of trusted authenticator models')
    .option('--mds-root <file>', 'the root the MDS BLOB is signed under (PEM)')
    .option('--aaguid <uuids...>', 'accept only these authenticator models (default: any the anchors vouch for)')
    .option('--evidence <file>', "the approval evidence as a file (default: fetched from the broker)")
    .option('--jwks <file|url>', 'keys trusted to sign the chain (default: the broker\'s /.well-known/jwks.json)')
    .option('--issuer <url>', 'require this iss in checkpoints and seals')
    .description("re-check offline, with no trust in the broker, that the approvers' enrolled keys signed this grant's manifest")
    .addHelpText(
      'after',
      '\nExample:\n  writ audit export --out audit.jsonl\n  writ audit verify-approval 3q2-7wEjRk6pXh5m2bW0Zg --chain audit.jsonl --jwks jwks.json --roots yubico-root.pem',
    )
    .action((grant: string, opts: VerifyApprovalOptions) => verifyApproval(ctx(), grant, opts))
  return cmd
}
