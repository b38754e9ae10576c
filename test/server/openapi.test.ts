import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { makeTestBroker, type TestBroker } from '../helpers/broker.js'

const doc = parse(readFileSync(resolve(import.meta.dirname, '../../openapi.yaml'), 'utf8')) as {
  openapi: string
  paths: Record<string, Record<string, unknown>>
}
const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete'])
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

describe('openapi.yaml', () => {
  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toMatch(/^3\.1\./)
  })

  it('documents exactly the routes the server serves', () => {
    const served = new Set(
      broker.app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`),
    )
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => METHODS.has(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      ),
    )
    expect([...served].filter((r) => !documented.has(r)), 'served but not documented').toEqual([])
    expect([...documented].filter((r) => !served.has(r)), 'documented but not served').toEqual([])
  })

  it('is served at /openapi.yaml, byte for byte', async () => {
    const res = await broker.call('GET', '/openapi.yaml')
    expect(await res.text()).toBe(readFileSync(resolve(import.meta.dirname, '../../openapi.yaml'), 'utf8'))
  })
})
