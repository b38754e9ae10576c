import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, SECRETS } from '../helpers/broker.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

/**
 * Every answer, whatever built it (a route's `c.json`, an error, a 404, a page, a static file),
 * reaches the client over the socket with the request id and `X-Content-Type-Options: nosniff`.
 */
let http: HttpBroker
beforeAll(async () => {
  http = await startHttpBroker()
})
afterAll(() => http.close())

const basic = `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`

const requests: Array<[string, () => Promise<Response>, number]> = [
  ['a trivial route', () => fetch(`${http.url}/healthz`), 200],
  [
    'an issued token',
    () =>
      fetch(`${http.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/json' },
        body: JSON.stringify(docsManifest({ grants: docsManifest().grants.slice(0, 1) })),
      }),
    200,
  ],
  [
    'a refused client',
    () =>
      fetch(`${http.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=agent-a&client_secret=wrong',
      }),
    401,
  ],
  ['an unknown route', () => fetch(`${http.url}/no/such/route`), 404],
  ['the API reference page', () => fetch(`${http.url}/docs`), 200],
  ['the approver inbox\'s sign-in page', () => fetch(`${http.url}/approve`), 200],
  ['the OpenAPI document', () => fetch(`${http.url}/openapi.yaml`), 200],
  ['the key set', () => fetch(`${http.url}/.well-known/jwks.json`), 200],
]

describe('headers on every answer', () => {
  it.each(requests)('%s carries a request id and nosniff', async (_name, send, status) => {
    const res = await send()
    await res.arrayBuffer()
    expect(res.status).toBe(status)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('echoes the caller\'s request id, cut to 64 characters', async () => {
    const given = 'trace-'.padEnd(80, 'x')
    const res = await fetch(`${http.url}/healthz`, { headers: { 'x-request-id': given } })
    expect(res.headers.get('x-request-id')).toBe(given.slice(0, 64))
    const issued = await fetch(`${http.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'req-1' },
      body: 'grant_type=client_credentials',
    })
    expect(issued.status).toBe(401)
    expect(issued.headers.get('x-request-id')).toBe('req-1')
  })
})
