/**
 * The README's start on Redis ("Configuration"), run verbatim twice in one folder: the KEK is
 * generated once and kept, so the second start on the same Redis opens the keys the first one
 * sealed. A start with another KEK is refused with a message that says what to do.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/redis.js'
import { readmeShellBlocks, SHIMS } from './readme-commands.js'

const dir = mkdtempSync(join(tmpdir(), 'writ-readme-redis-'))
const prefix = `writ-readme-redis-${randomBytes(4).toString('hex')}:`
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
// One port for every start: the stored key set is sealed for the issuer, which names the port.
const port = freePort()

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

/** Runs the script until the broker prints its banner (then stops it) or exits; its output. */
function start(script: string, extraEnv: Record<string, string> = {}): Promise<{ started: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    void port.then((port) => {
      const child = spawn('sh', ['-c', SHIMS + script.replaceAll('redis://127.0.0.1:6379', redisUrl)], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', PORT: String(port), WRIT_KEY_PREFIX: prefix, WRIT_LOG_LEVEL: 'error', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
      let stdout = ''
      let stderr = ''
      let started = false
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (!started && stdout.includes('writ broker listening')) {
          started = true
          process.kill(-child.pid!, 'SIGTERM')
        }
      })
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('close', () => resolve({ started, stdout, stderr }))
    })
  })
}

describe('the README start on Redis', () => {
  it('starts twice on the same Redis with the KEK it made once; another KEK is refused, saying what to do', async () => {
    const blocks = readmeShellBlocks('Configuration')
    expect(blocks).toHaveLength(1)
    const script = blocks[0]!
    expect(script).toContain('WRIT_KEK=$(cat .writ-kek)')
    const first = await start(script)
    expect({ first: first.stderr }).toEqual({ first: '' })
    expect(first.started).toBe(true)
    expect(statSync(join(dir, '.writ-kek')).mode & 0o777).toBe(0o600)
    const second = await start(script)
    expect({ second: second.stderr }).toEqual({ second: '' })
    expect(second.started).toBe(true)

    // The mistake the README avoids: a new random KEK on a store whose keys were sealed with another.
    const wrong = await start(script.replace('$(cat .writ-kek)', '$(openssl rand -base64 32)'))
    expect(wrong.started).toBe(false)
    expect(wrong.stderr).toContain("Start with the WRIT_KEK this store's keys were first written with")
    expect(wrong.stderr).toContain('start on a new WRIT_KEY_PREFIX')
  }, 120_000)
})
