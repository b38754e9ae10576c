import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { serve, type ServerType } from '@hono/node-server'
import { afterAll, describe, expect, it } from 'vitest'
import { createBroker, type Broker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { SECRETS, testPolicyText } from '../helpers/broker.js'
import { freePort } from '../helpers/redis.js'

const run = promisify(execFile)
const python = process.env.WRIT_TEST_PYTHON ?? '/usr/bin/python3'

// PyJWT is an independent implementation: it sees only the published JWKS and the token.
const verifyScript = `
import json, sys, urllib.request, jwt
base, token, audience = sys.argv[1], sys.argv[2], sys.argv[3]
jwks = json.load(urllib.request.urlopen(base + "/.well-known/jwks.json"))
header = jwt.get_unverified_header(token)
assert header["typ"] == "at+jwt", header
key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=[key["alg"]], audience=audience,
                    issuer=base, options={"require": ["exp", "iat", "jti", "sub", "iss", "aud"]})
print(json.dumps({"alg": header["alg"], "claims": claims}))
`

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const running: Array<{ server: ServerType; broker: Broker; prefix: string }> = []
afterAll(async () => {
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(redisUrl)
  for (const { server, broker, prefix } of running) {
    await new Promise((r) => server.close(r))
    await broker.close()
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length) await redis.del(...keys)
  }
  await redis.quit()
})

async function startServer(alg: 'ES256' | 'EdDSA'): Promise<string> {
  const policyText = await testPolicyText()
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const prefix = `writ-pyjwt-${randomBytes(4).toString('hex')}:`
  const config = parseConfig({
    issuer: base,
    store: { kind: 'redis', redisUrl, keyPrefix: prefix },
    keys: { alg, source: 'store', kek: randomBytes(32).toString('base64') },
  })
  const broker = await createBroker(config, { logger: silentLogger, policyText })
  const server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  running.push({ server, broker, prefix })
  return base
}

describe('an independent JWT implementation (PyJWT) accepts writ tokens using only the JWKS', () => {
  it.each(['ES256', 'EdDSA'] as const)('%s', async (alg) => {
    const base = await startServer(alg)
    const res = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`agent-b:${SECRETS['agent-b']}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        task_id: 'T-1',
        authorization_details: JSON.stringify([
          { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
        ]),
      }),
    })
    expect(res.status).toBe(200)
    const { access_token } = (await res.json()) as { access_token: string }
    const { stdout } = await run(python, ['-c', verifyScript, base, access_token, 'https://git.example.com/acme/app'])
    const out = JSON.parse(stdout)
    expect(out.alg).toBe(alg)
    expect(out.claims).toMatchObject({ iss: base, client_id: 'agent-b', sub: 'agent-b', scope: 'repo:read' })

    // And it rejects the same token for another audience: the check is real.
    await expect(run(python, ['-c', verifyScript, base, access_token, 'https://other.example.com'])).rejects.toThrow(/InvalidAudience/)
  })
})
