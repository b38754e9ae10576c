import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import type { Redis } from 'ioredis'

/** A private `redis-server` child process, for tests that stop, hang or restart Redis. */
export interface PrivateRedis {
  port: number
  /** `redis://127.0.0.1:<port>` */
  url: string
  /** Kills the server abruptly (SIGKILL, as a crash would) and waits until it has exited. */
  stop(): Promise<void>
  /** Starts a fresh, empty server on the same port and waits until it answers PING. */
  restart(): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void
  /** Unfreezes a paused server (SIGCONT). */
  resume(): void
}

const READY_TIMEOUT_MS = 5000

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned')
  return address.port
}

/** Whether a Redis server answers PING on the port (a raw RESP exchange, no client library). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const finish = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => finish(false))
    socket.once('error', () => finish(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    // A server whose default user is off answers NOAUTH: it is up, and wants a login.
    socket.once('data', (data) => finish(/^(\+PONG|-NOAUTH)/.test(data.toString('utf8'))))
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts `redis-server` on a free port with no persistence, and waits until it answers.
 * The child is killed when the test process exits, whatever happens to the test.
 * `extraArgs` are appended to the command line (e.g. `['--aclfile', path]`).
 */
export async function startRedis(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  let output = ''

  const killOnExit = (): void => {
    child?.kill('SIGKILL')
  }
  let hooked = false
  const hookExit = (hook: boolean): void => {
    if (hook && !hooked) process.once('exit', killOnExit)
    if (!hook && hooked) process.off('exit', killOnExit)
    hooked = hook
  }

  const spawnServer = async (): Promise<void> => {
    output = ''
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    args.push('--dir', tmpdir(), '--loglevel', 'warning')
    args.push(...extraArgs)
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    hookExit(true)
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server on port ${port} exited at start:\n${output}`)
      }
      if (await answersPing(port)) return
      await sleep(25)
    }
    proc.kill('SIGKILL')
    throw new Error(`redis-server on port ${port} did not answer within ${READY_TIMEOUT_MS} ms`)
  }

  const stop = async (): Promise<void> => {
    const proc = child
    child = undefined
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = once(proc, 'exit')
    proc.kill('SIGKILL')
    await exited
  }

  await spawnServer()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await stop()
      hookExit(false)
    },
    async restart() {
      await stop()
      await spawnServer()
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
  }
}

/** Removes every key under `prefix` (a test's own keys on the shared Redis), in SCAN steps. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
}
