import { randomBytes } from 'node:crypto'
import { serve, type ServerType } from '@hono/node-server'
import { createBroker, type Broker } from '../../src/broker.js'
import { parseConfig, type ConfigInput } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { testPolicyText } from './broker.js'
import { freePort, deleteKeysWithPrefix } from './redis.js'

export interface HttpBroker {
  url: string
  broker: Broker
  prefix: string
  close(): Promise<void>
}

/**
 * A broker on a real port over the real Redis (random key prefix, cleaned up on close), for
 * tests that drive it from another process (the CLI) or a browser. `policyText` replaces the test
 * policy (see `testPolicyText`).
 */
export async function startHttpBroker(
  config: ConfigInput = {},
  options: { policyText?: string } = {},
): Promise<HttpBroker> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const prefix = `writ-http-${randomBytes(4).toString('hex')}:`
  const parsed = parseConfig({
    issuer: url,
    store: { kind: 'redis', redisUrl, keyPrefix: prefix },
    keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    ...config,
  })
  const broker = await createBroker(parsed, {
    logger: silentLogger,
    policyText: (options.policyText ?? (await testPolicyText())),
  })
  // The real global Response stays in place: clients in this process (the MCP SDK among them)
  // recognise responses with `instanceof Response`.
  const server: ServerType = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1', overrideGlobalObjects: false })
  await new Promise((r) => server.once('listening', r))
  return {
    url,
    broker,
    prefix,
    async close() {
      await new Promise((r) => server.close(r))
      await broker.close()
      const { default: Redis } = await import('ioredis')
      const redis = new Redis(redisUrl)
      await deleteKeysWithPrefix(redis, prefix)
      await redis.quit()
    },
  }
}
