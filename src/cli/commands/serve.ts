import { Command, InvalidArgumentError } from 'commander'

export interface ServeOptions {
  config?: string
  workers: number
  dev?: boolean
}

/** Runs the broker in this process (or N workers), exactly as `npm start` does. */
export async function serve(env: Record<string, string | undefined>, opts: ServeOptions): Promise<void> {
  // Loaded here, not at the top: every other command starts without loading the broker.
  const { runBroker } = await import('../../run-broker.js')
  await runBroker(
    { ...env, ...(opts.config ? { WRIT_CONFIG: opts.config } : {}), ...(opts.dev ? { WRIT_DEV: '1' } : {}) },
    { workers: opts.workers },
  )
}

const positiveInt = (value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64')
  return n
}

export function serveCommand(env: Record<string, string | undefined>): Command {
  return new Command('serve')
    .description('run the broker (same as npm start); configuration from --config and the environment')
    .option('--config <file>', 'config file (YAML or JSON); overrides WRIT_CONFIG')
    .option('--workers <n>', 'worker processes sharing the port (needs REDIS_URL)', positiveInt, 1)
    .option('--dev', 'local trial (same as WRIT_DEV=1): dev attestation, so passkeys enrol, and an enrolment link per approver group')
    .addHelpText(
      'after',
      `
Examples:
  writ serve                                   # embedded defaults: memory store, dev key, sample policy
  writ serve --dev                             # the same, plus approvals with a passkey: prints an enrolment link
  REDIS_URL=redis://127.0.0.1:6379 WRIT_KEK=$(cat .writ-kek) writ serve --workers 2   # .writ-kek: made once
  writ serve --config /etc/writ/writ.yaml

SIGHUP re-reads the policy file (WRIT_POLICY); an invalid file changes nothing and every problem
is logged. With WRIT_POLICY_SOURCE=store the policy lives in the store: writ policy apply.
Grants issued under an earlier policy stay as they are (docs/policy.md).`,
    )
    .action((opts: ServeOptions) => serve(env, opts))
}
