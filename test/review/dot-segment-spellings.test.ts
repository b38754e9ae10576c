/**
 * Review finding: grant intake (issue 19 point 7, `resourceNameProblem`) refuses `.`/`..` segments
 * and `%2e`/`%2f`/`%5c`/`%25`, but not other spellings servers are known to turn into a dot
 * segment or a separator, so a grant the policy matches (`docs/**`, `acme/*`) can name a path
 * outside it for the resource server that reads it:
 * - `..;` (path parameters: Tomcat, Spring and their proxies treat `/..;/` as `/../`),
 * - overlong UTF-8 (`%c0%ae` = `.`, `%c0%af` = `/`) and IIS `%u002e`,
 * - compatibility characters that NFKC turns into `.`, `..` or `/` (U+FF0E, U+2025, U+FF0F), which
 *   writ itself treats as meaningful elsewhere (it NFKC-normalises people).
 * Each must be refused with a 400 naming the field, and nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
}, 60_000)

afterAll(async () => {
  await broker?.close()
})

const identifiers = [
  'docs/..;/secrets/prod.env',
  'docs/%c0%ae%c0%ae/secrets',
  'docs/%u002e%u002e/secrets',
  'docs/\u2025/secrets',
  'docs/\uff0e\uff0e/secrets',
  'docs/x\uff0f..\uff0f..\uff0fsecrets',
]

const locations = ['https://git.example.com/acme/..;', 'https://git.example.com/acme/\uff0e\uff0e']

describe('grant intake refuses other spellings of dot segments and separators', () => {
  for (const identifier of identifiers) {
    it(`identifier ${JSON.stringify(identifier)}`, async () => {
      const manifest = docsManifest({
        grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier }],
      })
      const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
      const body = await res.json()
      expect(body.access_token).toBeUndefined()
      expect(res.status).toBe(400)
      expect(body.error_description).toMatch(/identifier/)
    })
  }
  for (const location of locations) {
    it(`location ${JSON.stringify(location)}`, async () => {
      const manifest = docsManifest({
        grants: [{ type: 'repo', actions: ['read'], locations: [location], identifier: 'docs/readme.md' }],
      })
      const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: A })
      const body = await res.json()
      expect(body.access_token).toBeUndefined()
      expect(res.status).toBe(400)
      expect(body.error_description).toMatch(/locations/)
    })
  }
})
