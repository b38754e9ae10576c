import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './redis.js'

const run = promisify(execFile)
const READY_TIMEOUT_MS = 20_000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface Endpoint {
  host: string
  port: number
}

/** Private redis-server processes (a cluster, or a Sentinel setup), in one temp directory. */
export interface RedisGroup {
  /** Kills every process (SIGKILL) and removes the temp directory. */
  stop(): Promise<void>
}

export interface RedisCluster extends RedisGroup {
  /** The masters, each serving a third of the slots. */
  nodes: Endpoint[]
  /** Kills the node on `port` (SIGKILL, as a crash would). */
  kill(port: number): Promise<void>
}

export interface RedisSentinelSetup extends RedisGroup {
  master: Endpoint
  replica: Endpoint
  sentinel: Endpoint
  /** The Sentinel's name for the primary. */
  name: string
  /** Kills the current primary (SIGKILL, as a crash would). */
  killMaster(): Promise<void>
  /** Waits until the Sentinel names the former replica as the primary. */
  awaitFailover(): Promise<void>
  /**
   * Starts the killed primary again, empty and configured as a replica of the new primary (as an
   * operator's config would after a failover), and waits until it is in sync.
   */
  restartOldMaster(): Promise<void>
}

/** Spawns processes into one temp directory and kills them all on stop or on process exit. */
function processGroup(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const children: ChildProcess[] = []
  const killAll = (): void => {
    for (const child of children) child.kill('SIGKILL')
  }
  process.once('exit', killAll)
  return {
    dir,
    spawn(args: string[]): ChildProcess {
      const child = spawn('redis-server', args, { stdio: 'ignore', cwd: dir })
      children.push(child)
      return child
    },
    async kill(child: ChildProcess): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
    async stop(): Promise<void> {
      process.off('exit', killAll)
      await Promise.all(children.map((child) => this.kill(child)))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `redis-cli -p <port> <args>`; the reply as text ('' when it fails). */
async function cli(port: number, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])
    return stdout
  } catch {
    return ''
  }
}

/** Polls `check` until it is true, or throws naming `what` after READY_TIMEOUT_MS. */
async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning']

/**
 * Starts a Redis Cluster of `masters` masters (no replicas) on loopback ports and waits until
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const group = processGroup('writ-cluster-')
  try {
    const nodes: Endpoint[] = []
    const processes = new Map<number, ChildProcess>()
    for (let i = 0; i < masters; i++) {
      const port = await freePort()
      const busPort = await freePort()
      const child = group.spawn([
        '--port', String(port),
        '--cluster-enabled', 'yes',
        '--cluster-port', String(busPort),
        '--cluster-config-file', join(group.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000',
        '--dir', group.dir,
        ...common,
      ])
      processes.set(port, child)
      nodes.push({ host: '127.0.0.1', port })
    }
    for (const { port } of nodes) {
      await waitFor(`redis-server on ${port}`, async () => (await cli(port, 'ping')).startsWith('PONG'))
    }
    await run('redis-cli', [
      '--cluster', 'create',
      ...nodes.map(({ host, port }) => `${host}:${port}`),
      '--cluster-replicas', '0',
      '--cluster-yes',
    ])
    for (const { port } of nodes) {
      await waitFor(`cluster_state:ok on ${port}`, async () =>
        (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'),
      )
    }
    return {
      nodes,
      kill: async (port) => {
        const child = processes.get(port)
        if (!child) throw new Error(`no cluster node on port ${port}`)
        await group.kill(child)
      },
      stop: () => group.stop(),
    }
  } catch (err) {
    await group.stop()
    throw err
  }
}

/**
 * Starts a primary, one replica of it and one Sentinel watching it (quorum 1, a 1 s down-after),
 * and waits until the replica is in sync and the Sentinel knows both.
 */
export async function startRedisSentinel(): Promise<RedisSentinelSetup> {
  const group = processGroup('writ-sentinel-')
  const name = 'writ-primary'
  try {
    const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
    const masterArgs = ['--port', String(masterPort), '--dir', group.dir, ...common]
    let master = group.spawn(masterArgs)
    const replicaArgs = ['--port', String(replicaPort), '--dir', group.dir, ...common]
    group.spawn([...replicaArgs, '--replicaof', '127.0.0.1', String(masterPort)])
    await waitFor('the replica in sync', async () =>
      (await cli(replicaPort, 'info', 'replication')).includes('master_link_status:up'),
    )
    const sentinelConf = join(group.dir, 'sentinel.conf')
    writeFileSync(
      sentinelConf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${group.dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    )
    group.spawn([sentinelConf, '--sentinel'])
    await waitFor('the Sentinel to see the replica', async () =>
      (await cli(sentinelPort, 'sentinel', 'replicas', name)).includes(String(replicaPort)),
    )
    return {
      master: { host: '127.0.0.1', port: masterPort },
      replica: { host: '127.0.0.1', port: replicaPort },
      sentinel: { host: '127.0.0.1', port: sentinelPort },
      name,
      killMaster: () => group.kill(master),
      async restartOldMaster() {
        master = group.spawn([...masterArgs, '--replicaof', '127.0.0.1', String(replicaPort)])
        await waitFor('the old primary back as an in-sync replica', async () => {
          const info = await cli(masterPort, 'info', 'replication')
          return info.includes('role:slave') && info.includes('master_link_status:up')
        })
      },
      awaitFailover: () =>
        waitFor('the failover', async () => {
          const reply = await cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', name)
          return reply.split('\n').includes(String(replicaPort))
        }),
      stop: () => group.stop(),
    }
  } catch (err) {
    await group.stop()
    throw err
  }
}
