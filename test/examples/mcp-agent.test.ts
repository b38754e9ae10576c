import { type ChildProcess, spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDocsToolServer } from '../../examples/mcp-agent/docs-tool.js'
import { SECRETS } from '../helpers/broker.js'
import { eventually } from '../helpers/eventually.js'
import { type HttpBroker, startHttpBroker } from '../helpers/http-broker.js'
import { freePort } from '../helpers/redis.js'

const ROOT = resolve(import.meta.dirname, '../..')
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

let broker: HttpBroker
let service: ChildProcess
let serviceUrl: string

beforeAll(async () => {
  broker = await startHttpBroker()
  const port = await freePort()
  serviceUrl = `http://127.0.0.1:${port}`
  service = spawn(process.execPath, ['--import', 'tsx', 'examples/downstream-service/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, WRIT_ISSUER: broker.url, REDIS_URL, WRIT_KEY_PREFIX: broker.prefix, PORT: String(port) },
    stdio: 'ignore',
  })
  await eventually(
    'the docs service is up and subscribed',
    async () => {
      try {
        const health = (await (await fetch(`${serviceUrl}/healthz`)).json()) as { subscribed?: boolean }
        return health.subscribed === true
      } catch {
        return false
      }
    },
    { boundMs: 30_000 },
  )
}, 60_000)

afterAll(async () => {
  service?.kill('SIGTERM')
  await broker?.close()
})

describe('examples/mcp-agent: an MCP tool that gets a writ token per call', () => {
  it('reads a document with a DPoP-bound token for exactly that file, then revokes it', async () => {
    const server = createDocsToolServer({
      broker: broker.url,
      credentials: { clientId: 'agent-a', clientSecret: SECRETS['agent-a'] },
      service: serviceUrl,
    })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    await server.connect(serverSide)
    const client = new Client({ name: 'test-agent', version: '1.0.0' })
    await client.connect(clientSide)
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name)).toEqual(['read_doc'])

    const result = await client.callTool({ name: 'read_doc', arguments: { path: 'README.md', task_id: 'JIRA-4711' } })
    expect(result.isError).toBe(false)
    expect(result.content).toEqual([{ type: 'text', text: '# acme/app\n\nThe documentation.\n' }])

    // The token was for docs/README.md only, and it is gone: no grant of the task is left live.
    const redis = new Redis(REDIS_URL)
    try {
      const live = await redis.keys(`${broker.prefix}{c:agent-a}:g:*`)
      expect(live).toEqual([])
    } finally {
      redis.disconnect()
    }
    // A document the service does not have comes back as an error result the agent can read.
    const other = await client.callTool({ name: 'read_doc', arguments: { path: 'missing.md', task_id: 'JIRA-4711' } })
    expect(other.isError).toBe(true)
    await client.close()
  }, 60_000)
})
