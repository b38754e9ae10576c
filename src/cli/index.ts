#!/usr/bin/env node
/**
 * `writ`: one binary for admins, scripts and agent runtimes. Talks to the broker's HTTP API only
 * (never to Redis), so every admin action goes through the broker's auth and audit path.
 */
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'
import { Command, CommanderError } from 'commander'
import { CliError, EXIT } from './cli-error.js'
import { approvalsCommand } from './commands/approvals.js'
import { approversCommand } from './commands/approvers.js'
import { auditCommand } from './commands/audit.js'
import { clientsCommand } from './commands/clients.js'
import { grantsCommand } from './commands/grants.js'
import { keysCommand } from './commands/keys.js'
import { lockCommand, unlockCommand } from './commands/lock.js'
import { policyCommand } from './commands/policy.js'
import { revokeCommand } from './commands/revoke.js'
import { serveCommand } from './commands/serve.js'
import { statusCommand } from './commands/status.js'
import { tokenCommand } from './commands/token-request.js'
import { createContext, type CliContext } from './context.js'
import { createOutput, terminalText } from './output.js'

const env = process.env

/** The package's version: package.json sits two folders up from src/cli and dist/cli alike. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** Reads a secret at a TTY prompt without echoing it. */
async function hiddenPrompt(question: string): Promise<string> {
  let muted = false
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk)
      done()
    },
  })
  const rl = createInterface({ input: process.stdin, output, terminal: true })
  process.stderr.write(question)
  muted = true
  const answer = await rl.question('')
  rl.close()
  process.stderr.write('\n')
  return answer
}

const program = new Command('writ')
  .description('short-lived, task-scoped credentials for AI agents')
  .version(VERSION, '-V, --version', 'print the version of writ')
  .option('--url <url>', 'broker URL (default WRIT_URL)')
  .option('--json', 'machine-readable output')
  .option('--stdin', 'read the secret (admin token or client secret) from stdin')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    `
Secrets never go in flags: WRIT_ADMIN_TOKEN / WRIT_CLIENT_SECRET, --stdin, or a prompt on a TTY.
Exit codes: 0 ok, 1 error, 2 usage, 3 denied, 4 expired.

Examples:
  writ serve
  WRIT_URL=http://localhost:8080 WRIT_CLIENT_SECRET=demo-secret writ token request examples/manifest.yaml --client demo-agent
  WRIT_URL=http://localhost:8080 WRIT_ADMIN_TOKEN=... writ grants ls`,
  )

const ctx = (): CliContext => {
  const opts = program.opts<{ url?: string; json?: boolean; stdin?: boolean }>()
  return createContext({
    env,
    out: createOutput({ json: Boolean(opts.json), env }),
    ...(opts.url ? { url: opts.url } : {}),
    stdinSecret: Boolean(opts.stdin),
    prompt: hiddenPrompt,
  })
}

for (const command of [
  serveCommand(env),
  tokenCommand(ctx),
  grantsCommand(ctx),
  revokeCommand(ctx),
  lockCommand(ctx),
  unlockCommand(ctx),
  approvalsCommand(ctx),
  approversCommand(ctx),
  keysCommand(ctx),
  auditCommand(ctx),
  clientsCommand(ctx),
  policyCommand(ctx),
  statusCommand(ctx),
]) {
  program.addCommand(command)
}

/**
 * Usage errors of every command, however deeply nested, end in the documented exit code 2, and
 * commander's own messages (which quote what was typed) are escaped like all other output.
 */
function overrideExits(command: Command): void {
  command.exitOverride()
  command.configureOutput({
    writeOut: (text) => void process.stdout.write(terminalText(text)),
    writeErr: (text) => void process.stderr.write(terminalText(text)),
  })
  for (const sub of command.commands) overrideExits(sub)
}
overrideExits(program)

function fail(message: string, code: number): never {
  process.stderr.write(`writ: ${terminalText(message)}\n`)
  process.exit(code)
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage)
  }
  if (err instanceof CliError) fail(err.message, err.exitCode)
  fail(err instanceof Error ? err.message : String(err), EXIT.error)
})
