import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'

/**
 * The examples run as their READMEs and docs/verifier.md say, next to `npm start` on its defaults:
 * the issuer they expect by default is the one that broker puts in its tokens, or they would refuse
 * every token (`issuer_mismatch`).
 */
describe('the examples default to the issuer of the embedded default broker', () => {
  const issuer = loadConfig({}).issuer
  for (const file of ['examples/downstream-service/server.ts', 'examples/mcp-server/server.ts']) {
    it(file, () => {
      const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
      const fallback = /process\.env\.WRIT_ISSUER \?\? '([^']+)'/.exec(text)?.[1]
      expect(fallback).toBe(issuer)
    })
  }
})
