import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')

/**
 * `npm test` covers the Python package: its pytest suite (python/tests) starts a real broker from
 * dist/ (built by `pretest`) on the real Redis, and this test fails when any pytest test fails.
 */
describe('the Python package (python/)', () => {
  it('passes its pytest suite against a real broker', () => {
    const run = spawnSync('/usr/bin/python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], {
      cwd: resolve(root, 'python'),
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      maxBuffer: 16 * 1024 * 1024,
    })
    const output = `${run.stdout}\n${run.stderr}`
    if (run.status !== 0) console.error(output)
    expect(run.status, output.slice(-4000)).toBe(0)
    expect(output).toMatch(/\d+ passed/)
    expect(output).not.toMatch(/\d+ (failed|error)/)
  }, 600_000)
})
