import { Command } from 'commander'
import { generateSecret, hashSecret } from '../../client-auth/index.js'
import { CliError, EXIT } from '../cli-error.js'
import type { CliContext } from '../context.js'

const ID = /^[A-Za-z0-9._:-]{1,256}$/

/**
 * `writ clients add ID` / `rotate-secret ID`: a new secret, shown once, and the argon2id hash for
 * the policy file. Local: the policy file is the source of truth, nothing is sent anywhere.
 */
export async function newClientSecret(ctx: CliContext, id: string, mode: 'add' | 'rotate'): Promise<void> {
  if (!ID.test(id)) throw new CliError(`client id ${JSON.stringify(id)}: use letters, digits and . _ : - (at most 256)`, EXIT.usage)
  const secret = generateSecret()
  const hash = await hashSecret(secret)
  if (ctx.out.json) {
    ctx.out.data({ client_id: id, client_secret: secret, secret_hash: hash })
    return
  }
  ctx.out.line(`client secret for ${ctx.out.bold(id)} (shown once; keep it in the agent runtime's secret store):`)
  ctx.out.line(`  ${secret}`)
  ctx.out.line('')
  if (mode === 'add') {
    ctx.out.line('add to the clients of your policy file:')
    ctx.out.line(`  - id: ${id}`)
    ctx.out.line('    auth: client_secret')
    ctx.out.line(`    secret_hash: "${hash}"`)
    ctx.out.line('    rules: []   # the rule ids this client may use')
  } else {
    ctx.out.line(`replace the secret_hash of ${id} in your policy file with:`)
    ctx.out.line(`    secret_hash: "${hash}"`)
    ctx.out.line('then reload the brokers; the old secret stops working once they run the new policy.')
  }
}

export function clientsCommand(ctx: () => CliContext): Command {
  const cmd = new Command('clients').description('client secrets for the policy file')
    .addHelpText('after', '\nExample (each subcommand has its own --help):\n  writ clients add docs-agent')
  cmd
    .command('add')
    .argument('<id>', 'client id')
    .description('a new client secret (shown once) and its policy entry')
    .addHelpText('after', '\nExample:\n  writ clients add docs-agent')
    .action((id: string) => newClientSecret(ctx(), id, 'add'))
  cmd
    .command('rotate-secret')
    .argument('<id>', 'client id')
    .description('a replacement secret (shown once) and its hash')
    .addHelpText('after', '\nExample:\n  writ clients rotate-secret docs-agent --json')
    .action((id: string) => newClientSecret(ctx(), id, 'rotate'))
  return cmd
}
