import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { SAMPLE_POLICY_PATH } from '../../config.js'
import { parseManifest } from '../../manifest/index.js'
import { explain, loadPolicyFile, PolicyError, type Policy } from '../../policy/index.js'
import { WritError } from '../../errors.js'
import { adminApi } from '../admin-api.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'
import { snakeKeys } from '../snake-keys.js'

function load(file: string): Policy {
  try {
    return loadPolicyFile(file)
  } catch (err) {
    if (err instanceof PolicyError) throw new CliError(err.message, EXIT.error)
    throw new CliError(`cannot read policy ${file}: ${(err as Error).message}`, EXIT.usage)
  }
}

/** `writ policy check FILE`: every problem listed, exit 1 when there is any. */
export function checkPolicy(ctx: CliContext, file: string): void {
  const policy = load(file)
  if (ctx.out.json) {
    ctx.out.data({ ok: true, clients: policy.clients.size, approver_groups: policy.approverGroups.size, rules: policy.rules.length })
    return
  }
  ctx.out.line(
    `${ctx.out.green('ok')} ${file}: ${policy.clients.size} client(s), ${policy.approverGroups.size} approver group(s), ${policy.rules.length} rule(s)`,
  )
}

/** `writ policy explain MANIFEST`: per grant, the matching rule and what it needs. */
export function explainManifest(ctx: CliContext, manifestFile: string, opts: { policy?: string; client?: string }): void {
  const policyFile = opts.policy ?? ctx.env.WRIT_POLICY ?? SAMPLE_POLICY_PATH
  const policy = load(policyFile)
  let text: string
  try {
    // `-`: the manifest comes from stdin.
    text = readFileSync(manifestFile === '-' ? 0 : manifestFile, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read manifest ${manifestFile}: ${(err as Error).message}`, EXIT.usage)
  }
  let manifest
  try {
    manifest = parseManifest(text, manifestFile.endsWith('.json') ? { contentType: 'application/json' } : {})
  } catch (err) {
    if (err instanceof WritError) throw new CliError(`${manifestFile}: ${err.message}`, EXIT.usage)
    throw err
  }
  const result = explain(policy, opts.client, manifest)
  if (ctx.out.json) {
    ctx.out.data(snakeKeys(result))
  } else {
    const who = opts.client ? `client ${opts.client}` : 'any client'
    ctx.out.line(`${ctx.out.bold(manifestFile)} against ${policyFile} for ${who}:`)
    for (const g of result.grants) {
      const what = g.grant
      if (g.rule) {
        const needs = g.rule.approval
          ? `${g.rule.approval.approvers} approver(s) from ${g.rule.approval.from}${g.rule.requireDpop ? ', DPoP' : ''}`
          : 'no approval'
        ctx.out.line(`  grants[${g.index}] ${what}`)
        ctx.out.line(`    ${ctx.out.green('✓')} rule ${g.rule.id}: ${needs}, max ttl ${g.rule.maxTtlSeconds}s`)
      } else {
        ctx.out.line(`  grants[${g.index}] ${what}`)
        ctx.out.line(`    ${ctx.out.red('✗')} no rule allows it`)
        for (const r of g.rejected) ctx.out.line(`      ${r.ruleId}: ${r.reason}`)
      }
    }
    ctx.out.line(result.allowed ? `allowed; token life at most ${result.maxTtlSeconds}s` : ctx.out.red('denied'))
  }
  if (!result.allowed) process.exitCode = EXIT.denied
}

/**
 * `writ policy apply FILE`: sends the policy to the broker, which validates it (every problem
 * listed, nothing changed when there is one), stores it and puts it in force; every replica on the
 * store follows within 2 s. Grants issued under the old policy stay as they are.
 */
export async function applyPolicy(ctx: CliContext, file: string): Promise<void> {
  let text: string
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read policy ${file}: ${(err as Error).message}`, EXIT.usage)
  }
  const applied = await adminApi<{ hash: string; previous_hash: string; generation: number }>(
    ctx,
    'POST',
    '/admin/policy',
    { policy: text },
  )
  if (ctx.out.json) return ctx.out.data(applied)
  if (applied.hash === applied.previous_hash) {
    ctx.out.line(`${ctx.out.green('ok')} policy ${applied.hash} was already in force (stored again as generation ${applied.generation})`)
    return
  }
  ctx.out.line(`${ctx.out.green('applied')} policy ${applied.hash} (generation ${applied.generation}), replacing ${applied.previous_hash}`)
  ctx.out.line('every replica on the store has it in force within 2 s (writ status shows each one);')
  ctx.out.line('grants issued under the old policy stay as they are until they expire or are revoked')
}

export function policyCommand(ctx: () => CliContext): Command {
  const cmd = new Command('policy').description('validate a policy file, explain decisions, apply a policy live')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ policy explain examples/manifest.yaml --client demo-agent')
  cmd
    .command('check')
    .argument('<file>', 'policy file (YAML)')
    .description('validate a policy file, listing every problem')
    .addHelpText('after', '\nExample:\n  writ policy check /etc/writ/policy.yaml')
    .action((file: string) => checkPolicy(ctx(), file))
  cmd
    .command('explain')
    .argument('<manifest>', 'task manifest (YAML or JSON); - reads it from stdin')
    .option('--policy <file>', 'policy file (default: WRIT_POLICY or the sample policy)')
    .option('--client <id>', 'explain for this client (the rules it may use)')
    .description('per grant: which rule matches and what it needs (exit 3 when denied)')
    .addHelpText('after', '\nExample:\n  writ policy explain examples/manifest.yaml --client demo-agent')
    .action((manifest: string, opts: { policy?: string; client?: string }) => explainManifest(ctx(), manifest, opts))
  cmd
    .command('apply')
    .argument('<file>', 'policy file (YAML); - reads it from stdin')
    .description('validate, store and put in force a policy on every replica (WRIT_POLICY_SOURCE=store)')
    .addHelpText(
      'after',
      '\nEvery problem is listed and nothing changes when there is one. Replicas on the store follow\n' +
        'within 2 s. Grants issued under the old policy stay as they are (revoke them to end them).\n' +
        'Needs the admin token.\n\nExample:\n  writ policy apply /etc/writ/policy.yaml',
    )
    .action((file: string) => applyPolicy(ctx(), file))
  return cmd
}
