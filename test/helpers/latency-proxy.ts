import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'

/** A TCP proxy in front of a server that delays every chunk, both ways, by a settable latency. */
export interface LatencyProxy {
  port: number
  /** `redis://127.0.0.1:<port>` */
  url: string
  /** Delay added from now on to every chunk in each direction (order is always kept). */
  setLatency(ms: number): void
  /** Connections accepted so far. */
  readonly connections: number
  /** Chunks received but not yet forwarded. */
  readonly queued: number
  close(): Promise<void>
}

/**
 * Starts a proxy on a free port forwarding to `127.0.0.1:targetPort`. Each direction keeps a
 * release time that never goes backwards, so lowering the latency never reorders bytes.
 */
export async function startLatencyProxy(targetPort: number): Promise<LatencyProxy> {
  let latencyMs = 0
  let connections = 0
  let queued = 0
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()

  const pipeDelayed = (from: Socket, to: Socket): void => {
    let releaseAt = 0
    from.on('data', (chunk: Buffer) => {
      releaseAt = Math.max(Date.now() + latencyMs, releaseAt)
      queued++
      const timer = setTimeout(() => {
        timers.delete(timer)
        queued--
        if (!to.destroyed) to.write(chunk)
      }, releaseAt - Date.now())
      timers.add(timer)
    })
    from.once('close', () => to.destroy())
    from.on('error', () => to.destroy())
  }

  const server = createServer((client) => {
    connections++
    const upstream = connect({ port: targetPort, host: '127.0.0.1' })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    }
    pipeDelayed(client, upstream)
    pipeDelayed(upstream, client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned')
  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    setLatency(ms) {
      latencyMs = ms
    },
    get connections() {
      return connections
    },
    get queued() {
      return queued
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
