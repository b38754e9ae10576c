import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Broker, createBroker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { policyHash } from '../../src/policy/policy-hash.js'
import { freePort } from '../helpers/redis.js'

/*
 * A request in flight while a new policy takes force finishes under the policy it started with.
 * The request is a token exchange on behalf of a person: the broker authenticates the client, then
 * fetches the identity provider's JWKS (held here until the test lets it go), then decides. The
 * policy changes while the JWKS is held. Policy A knows the client's secret and allows the grant;
 * policy B gives the client another secret and no rule for it. A request that mixed the two
 * (authenticated under A, decided under B) would be refused with 403; under A alone it gets its
 * token, and a request started after the change fails authentication under B alone (401).
 */

const SECRET_A = 'secret-under-policy-a'
const SECRET_B = 'secret-under-policy-b'
const AUDIENCE = 'writ-agents'
const READ = [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }]

let dir: string
let policyFile: string
let idp: Server
let idpUrl: string
let signer: { key: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; kid: string }
let jwks: unknown
let release: () => void = () => {}
let requested: () => void = () => {}
let held: Promise<void>
let jwksRequested: Promise<void>
let broker: Broker
let server: ServerType
let url: string

function policyText(secretHash: string, rule: 'docs-read' | 'deploy-only'): string {
  return `version: 1
issuers:
  - issuer: ${idpUrl}
    jwks_uri: ${idpUrl}/jwks
    audience: [${AUDIENCE}]
    algorithms: [ES256]
clients:
  - id: agent
    auth: client_secret
    secret_hash: "${secretHash}"
    rules: [${rule}]
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
  - id: deploy-only
    match: { type: deploy, actions: [create], locations: ["https://deploy.example.com/acme/app"] }
    max_ttl: 5m
    approval: none
`
}

const idToken = (): Promise<string> =>
  new SignJWT({ email: 'alice@example.com' })
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid })
    .setIssuer(idpUrl)
    .setAudience(AUDIENCE)
    .setSubject('alice@example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer.key)

function exchange(secret: string, subjectToken: string): Promise<Response> {
  return fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`agent:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      task_id: 'FLIGHT-1',
      authorization_details: JSON.stringify(READ),
    }).toString(),
  })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'writ-in-flight-'))
  policyFile = join(dir, 'policy.yaml')
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  signer = { key: privateKey, kid: 'idp-1' }
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }] }
  idp = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end()
      return
    }
    requested()
    void held.then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)))
  })
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r))
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`
})

afterAll(async () => {
  release()
  await new Promise((r) => idp?.close(r))
  rmSync(dir, { recursive: true, force: true })
})

/** A broker on policy A, with the identity provider's JWKS held until `release`. */
async function startBroker(tracer: false | undefined): Promise<void> {
  jwksRequested = new Promise((r) => (requested = r))
  held = new Promise((r) => (release = r))
  writeFileSync(policyFile, policyText(await hashSecret(SECRET_A), 'docs-read'))
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  broker = await createBroker(parseConfig({ issuer: url, policyFile }), { logger: silentLogger, tracer })
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
}

async function stopBroker(): Promise<void> {
  release()
  await new Promise((r) => server?.close(r))
  await broker?.close()
}

// The pin holds whether the request's scope is opened by the tracing middleware (tracing on, the
// default) or by the pin itself (tracing off).
describe.each([
  ['tracing on', undefined],
  ['tracing off', false],
] as const)('a request in flight when the policy changes (%s)', (_name, tracer) => {
  beforeAll(() => startBroker(tracer))
  afterAll(stopBroker)

  it('is decided wholly under the policy it started with; requests started after see only the new one', async () => {
    const inFlight = exchange(SECRET_A, await idToken())
    // The client authenticated under policy A; the broker now waits for the identity provider.
    await jwksRequested

    const textB = policyText(await hashSecret(SECRET_B), 'deploy-only')
    writeFileSync(policyFile, textB)
    expect(await broker.reloadPolicy()).toBe('changed')
    const status = (await (await fetch(`${url}/readyz`)).json()) as { policy: { hash: string } }
    expect(status.policy.hash).toBe(policyHash(textB))
    // A request started now is under policy B alone: the old secret no longer authenticates.
    const after = await exchange(SECRET_A, await idToken())
    expect(after.status).toBe(401)

    release()
    const res = await inFlight
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string }
    expect(body.error_description).toBeUndefined()
    expect(res.status).toBe(200)
    const claims = JSON.parse(Buffer.from(body.access_token!.split('.')[1]!, 'base64url').toString()) as {
      sub: string
      authorization_details: unknown[]
    }
    expect(claims.sub).toBe('alice@example.com')
    expect(claims.authorization_details).toEqual(READ)

    // And policy B, alone, decides a request started under it.
    const underB = await exchange(SECRET_B, await idToken())
    expect(underB.status).toBe(403)
  })
})
