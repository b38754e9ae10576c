/**
 * Runs the broker process: load config from an environment, build dependencies, serve, reload
 * the policy on SIGHUP, and shut down cleanly on SIGINT/SIGTERM. Shared by `npm start` (src/main.ts) and `writ serve`.
 */
import cluster from 'node:cluster'
import { serve } from '@hono/node-server'
import { type Broker, createBroker } from './broker.js'
import { ConfigError, loadConfig, SAMPLE_POLICY_PATH, type Config } from './config.js'
import { configuredSecrets } from './configured-secrets.js'
import { createLogger, type Logger } from './logger.js'
import { PolicyError } from './policy/index.js'

/** An enrolment link printed at a dev start, for one approver of one group. */
interface DevInvite {
  approver: string
  group: string
  url: string
}

function banner(config: Config, url: string, adminToken?: string, invites: DevInvite[] = []): string {
  const lines = [
    `writ broker listening on ${url}`,
    `  issuer ${config.issuer} · store ${config.store.kind} · signing ${config.keys.alg} (${config.keys.source} keys)`,
    `  API reference ${config.issuer}/docs`,
  ]
  if (config.approvals.attestation.mode === 'dev') {
    lines.push(
      '',
      '  DEV MODE: security key attestation is not verified; passkeys and any security key enrol. Local trials only.',
    )
    for (const invite of invites) {
      lines.push(
        '',
        `  Enrol a passkey or security key for ${invite.approver} (group ${invite.group}); the link works once:`,
        '',
        `    ${invite.url}`,
      )
    }
  }
  if (config.policyFile === SAMPLE_POLICY_PATH) {
    lines.push(
      '',
      '  Using the sample policy (examples/policy.yaml). Its client secret is public: local trials only.',
      '  Get a task-scoped token:',
      '',
      `    curl -s -u demo-agent:demo-secret ${config.issuer}/v1/tokens \\`,
      `      -H 'content-type: application/yaml' --data-binary @examples/manifest.yaml`,
      '',
      '  or the OAuth way (RFC 6749 client credentials + RFC 9396 authorization_details):',
      '',
      `    curl -s -u demo-agent:demo-secret ${config.issuer}/oauth/token \\`,
      `      -d grant_type=client_credentials -d task_id=JIRA-4711 \\`,
      `      --data-urlencode 'authorization_details=[{"type":"repo","actions":["read"],"locations":["https://git.example.com/acme/app"],"identifier":"docs/**"}]'`,
    )
  }
  if (adminToken) {
    const when = config.store.kind === 'memory' ? 'a new one on every start of the in-memory store' : 'shown once'
    lines.push(
      '',
      `  Admin token (${when}; only its hash is kept — store it now):`,
      '',
      `    export WRIT_URL=${config.issuer} WRIT_ADMIN_TOKEN=${adminToken}`,
      '    npx writ grants ls',
    )
  }
  return lines.join('\n') + '\n'
}

type Env = Record<string, string | undefined>

/**
 * On a dev-attestation broker, a one-time enrolment link for the first member of each approver
 * group that has no usable key yet, so a local trial can approve without an admin step.
 */
async function devInvites(broker: Broker, logger: Logger): Promise<DevInvite[]> {
  if (!broker.devAttestation) return []
  const invites: DevInvite[] = []
  for (const group of broker.policy.current().approverGroups.values()) {
    let approver: string | undefined
    for (const member of group.members) {
      const keys = await broker.approvals.listCredentials({ sub: member })
      if (keys.some((key) => key.flagged === undefined)) {
        approver = undefined
        break
      }
      approver ??= member
    }
    if (approver === undefined) continue
    try {
      const invite = await broker.inviteApprover(approver, group.id)
      invites.push({ approver: invite.approver, group: invite.group, url: invite.url })
    } catch (err) {
      // A member the invite refuses (a plain name, not an address) gets no link.
      logger.warn('no dev enrolment link', { group: group.id, err: err instanceof Error ? err.message : String(err) })
    }
  }
  return invites
}

/** `host:port` (`[::1]:9464` for IPv6) as @hono/node-server's listen options. */
function listenAddress(hostPort: string): { hostname: string; port: number } {
  const at = hostPort.lastIndexOf(':')
  return { hostname: hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(hostPort.slice(at + 1)) }
}

/** The config from `env`, or every problem on stderr and exit code 2 (a usage error). */
function loadConfigOrExit(env: Env): Config {
  try {
    return loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`writ: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}

export interface RunOptions {
  /** Worker processes sharing the port (node:cluster). More than one needs the Redis store. */
  workers?: number
}

export async function runBroker(env: Env, options: RunOptions = {}): Promise<void> {
  const workers = options.workers ?? 1
  if (workers > 1 && cluster.isPrimary) return runPrimary(env, workers)
  const config = loadConfigOrExit(env)
  const logger = createLogger(config.log.level, { secrets: configuredSecrets(config) })
  if (config.keys.source === 'generate') {
    logger.warn('signing with a key generated at startup: tokens stop verifying when this process exits; configure keys.source store or files for real use')
  }
  if (config.policyFile === SAMPLE_POLICY_PATH) {
    logger.warn('using the sample policy with a public client secret; set WRIT_POLICY for real use')
  }

  let broker
  try {
    broker = await createBroker(config, { logger, env })
  } catch (err) {
    if (err instanceof PolicyError || err instanceof ConfigError) {
      process.stderr.write(`writ: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }

  const quiet = cluster.isWorker && cluster.worker?.id !== 1
  const invites = quiet ? [] : await devInvites(broker, logger)
  const server = serve({ fetch: broker.app.fetch, port: config.port, hostname: config.host }, (info) => {
    const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
    if (!quiet) process.stdout.write(banner(config, `http://${host}:${info.port}`, broker.adminToken, invites))
  })

  const metricsServer =
    broker.metricsApp && config.metrics.listen
      ? serve({ fetch: broker.metricsApp.fetch, ...listenAddress(config.metrics.listen) })
      : undefined

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info('shutting down', { signal })
    metricsServer?.close()
    server.close(() => {
      broker.close().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    })
    setTimeout(() => process.exit(1), 10_000).unref()
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  // SIGHUP: the policy file is read again (or the stored policy looked at); an invalid one
  // changes nothing and is logged with every problem.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the policy', { source: config.policySource })
    broker.reloadPolicy().then(
      (outcome) => logger.info('policy reload done', { outcome, hash: broker.policy.latest().hash }),
      (err: unknown) => logger.error('policy reload failed; keeping the policy in force', {
        err: err instanceof Error ? err.message : String(err),
      }),
    )
  })
}

/** Longest wait before replacing a worker that keeps crashing. */
const MAX_RESTART_DELAY_MS = 30_000

/**
 * The primary of `--workers N`: checks the config once, forks N workers that share the listening
 * port, and supervises them. When no worker has ever started listening and one exits, the start
 * failed (bad keys, unreachable store...): every worker is stopped and the primary exits 1. A worker
 * that dies after the service was up is replaced, after 1 s doubling with each crash in a row (at
 * most 30 s; a replacement that listens resets it). SIGINT/SIGTERM are forwarded to every worker as
 * SIGTERM; the primary exits 0 once they have all ended cleanly, 1 if one did not within 10 s.
 */
function runPrimary(env: Env, workers: number): void {
  const config = loadConfigOrExit(env)
  // Ensure replicas share their state: an in-memory store per worker would split the allow-list.
  if (config.store.kind !== 'redis') {
    process.stderr.write('writ: --workers needs the Redis store (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); the memory store lives in one process\n')
    process.exit(2)
  }
  const logger = createLogger(config.log.level, { secrets: configuredSecrets(config) })
  let stopping = false
  let everListened = false
  let crashesInARow = 0
  let uncleanExit = false
  const fork = () => {
    const worker = cluster.fork(env)
    logger.info('worker started', { worker: worker.id, pid: worker.process.pid })
  }
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info('stopping workers', { signal })
    const alive = Object.values(cluster.workers ?? {})
    if (alive.length === 0) process.exit(uncleanExit ? 1 : 0)
    for (const worker of alive) worker?.process.kill('SIGTERM')
    setTimeout(() => {
      logger.error('workers did not stop within 10 s; exiting')
      process.exit(1)
    }, 10_000).unref()
  }
  cluster.on('listening', (worker) => {
    everListened = true
    crashesInARow = 0
    logger.info('worker listening', { worker: worker.id, pid: worker.process.pid })
  })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0 && signal !== 'SIGTERM') uncleanExit = true
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(uncleanExit ? 1 : 0)
      return
    }
    if (!everListened) {
      process.stderr.write(`writ: a worker exited before the service started (exit code ${code ?? signal}); see its error above\n`)
      uncleanExit = true
      stop('start failure')
      return
    }
    crashesInARow++
    const delay = Math.min(1000 * 2 ** (crashesInARow - 1), MAX_RESTART_DELAY_MS)
    logger.warn('worker exited; starting a replacement', { worker: worker.id, pid: worker.process.pid, code, signal, delayMs: delay })
    setTimeout(() => {
      if (!stopping) fork()
    }, delay)
  })
  for (let i = 0; i < workers; i++) fork()
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  // Each worker holds its own policy: a reload is every worker's.
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP')
  })
}
