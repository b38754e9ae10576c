#!/usr/bin/env node
// The floor for bench/peer.js: the least a token route can do on writ's stack (hono on
// @hono/node-server, ioredis, node:crypto ES256) while still writing the grant and its audit event
// to Redis before answering: read the form, build the claims, one Lua script (grant record with its
// expiry, the client's live set, the audit stream), sign, answer. No client authentication, policy,
// manifest validation, quotas, locks, hashing, headers or observability: writ cannot do less per
// token, so no change to writ can make it issue faster than this on the same machine. In its own
// process like the broker. Prints `ready <port>` once it listens.
//
//   node bench/floor-server.js PORT REDIS_URL KEY_PREFIX
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { createServer } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { Redis } from 'ioredis'

const [port, redisUrl, prefix] = process.argv.slice(2)
const redis = new Redis(redisUrl, { enableAutoPipelining: true })
redis.defineCommand('floorGrant', {
  numberOfKeys: 3,
  lua: `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('XADD', KEYS[3], '*', 'e', ARGV[1])
return 1`,
})
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'floor' })).toString('base64url')
const TTL = 300

const app = new Hono()
app.post('/token', async (c) => {
  const form = new URLSearchParams(await c.req.text())
  const id = randomBytes(16).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const claims = {
    iss: `http://127.0.0.1:${port}`,
    sub: 'bench-agent',
    aud: 'https://git.example.com/acme/app',
    exp: now + TTL,
    iat: now,
    jti: id,
    client_id: 'bench-agent',
    scope: 'repo:read',
    authorization_details: JSON.parse(form.get('authorization_details') ?? '[]'),
    task: { id: form.get('task_id') },
  }
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const record = JSON.stringify({ type: 'grant.issued', grant: id, client: claims.client_id, claims })
  await redis.floorGrant(`${prefix}{c:bench-agent}:g:${id}`, `${prefix}{c:bench-agent}:live`, `${prefix}{c:bench-agent}:audit`, record, TTL * 1000, (now + TTL) * 1000, id)
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return c.json({ access_token: `${header}.${payload}.${signature.toString('base64url')}`, token_type: 'Bearer', expires_in: TTL })
})

const server = createServer(getRequestListener(app.fetch)).listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${port}\n`)
})
process.on('SIGTERM', () => {
  server.close()
  redis.disconnect()
})
