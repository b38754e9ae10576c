import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { dpopThumbprint } from '../../src/client/index.js'
import { loadOrCreateDpopKey } from '../../src/cli/dpop-key-file.js'
import { ROOT, runCli } from '../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'writ-dpop-key-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('writ token request --dpop-key FILE', () => {
  it('creates the key once (0600, a private JWK) and binds every later request to the same key', async () => {
    const file = join(dir, 'agent.jwk')
    const first = await loadOrCreateDpopKey(file)
    expect(first.created).toBe(true)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256', d: expect.any(String) })
    const again = await loadOrCreateDpopKey(file)
    expect(again.created).toBe(false)
    expect(await dpopThumbprint(again.key)).toBe(await dpopThumbprint(first.key))
  })

  it('refuses a key file others may read, before asking the broker for anything', async () => {
    const file = join(dir, 'shared.jwk')
    await loadOrCreateDpopKey(file)
    chmodSync(file, 0o644)
    const res = await runCli(
      ['token', 'request', join(ROOT, 'examples/deploy.yaml'), '--client', 'demo-agent', '--dpop-key', file],
      { WRIT_URL: 'http://127.0.0.1:9', WRIT_CLIENT_SECRET: 'demo-secret' },
    )
    expect(res.code).toBe(2)
    expect(res.stderr).toContain(`permissions 0644 are too open`)
    expect(res.stderr).toContain(`chmod 600 ${file}`)
  })

  it('refuses a file that is not a private EC or Ed25519 JWK, naming the flag', async () => {
    const file = join(dir, 'public.jwk')
    writeFileSync(file, JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }), { mode: 0o600 })
    await expect(loadOrCreateDpopKey(file)).rejects.toThrow(/--dpop-key .*expected a private EC P-256 or Ed25519 JWK/)
    writeFileSync(file, 'not json', { mode: 0o600 })
    await expect(loadOrCreateDpopKey(file)).rejects.toThrow(/not a JSON Web Key/)
  })
})
