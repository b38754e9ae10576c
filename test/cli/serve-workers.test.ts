/**
 * `writ serve --workers N` supervises its workers: it exits non-zero when they cannot start,
 * replaces one that is killed (the service keeps answering), and stops them all on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, ROOT } from '../helpers/cli.js'
import { deleteKeysWithPrefix, freePort } from '../helpers/redis.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `writ-workers-${randomBytes(4).toString('hex')}:`
const kek = randomBytes(32).toString('base64')
const started: ChildProcess[] = []

afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  const redis = new Redis(redisUrl)
  await deleteKeysWithPrefix(redis, prefix)
  await redis.quit()
})

function serve(port: number, env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'serve', '--workers', '2'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), REDIS_URL: redisUrl, WRIT_KEY_PREFIX: prefix, WRIT_KEK: kek, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  const out = { text: '' }
  child.stdout!.on('data', (d: Buffer) => (out.text += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out.text += d.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { child, out, exited }
}

async function until(what: string, test: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The pids of the workers the primary logged as listening (JSON log lines, fields in any order). */
const listeningPids = (text: string): number[] =>
  text.split('\n').flatMap((line) => {
    try {
      const event = JSON.parse(line) as { msg?: string; pid?: number }
      return event.msg === 'worker listening' && typeof event.pid === 'number' ? [event.pid] : []
    } catch {
      return []
    }
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('writ serve --workers', () => {
  it('replaces a killed worker while the others keep serving, and stops every worker on SIGTERM', async () => {
    const port = await freePort()
    const run = serve(port, {})
    await until('two workers listening', () => listeningPids(run.out.text).length >= 2)
    const [first, second] = listeningPids(run.out.text)
    process.kill(first!, 'SIGKILL')
    await until('a replacement', () => listeningPids(run.out.text).length >= 3)
    expect(run.out.text).toContain('worker exited; starting a replacement')
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const replacement = listeningPids(run.out.text)[2]!
    run.child.kill('SIGTERM')
    expect(await run.exited).toBe(0)
    expect([second!, replacement].filter(alive)).toEqual([])
  }, 120_000)

  it('exits non-zero when its workers cannot start (keys sealed with another KEK), stopping them all', async () => {
    const port = await freePort()
    const run = serve(port, { WRIT_KEK: randomBytes(32).toString('base64') })
    const code = await run.exited
    expect(code).toBe(1)
    expect(run.out.text).toContain('a worker exited before the service started')
    expect(run.out.text).toContain('keys.kek')
  }, 120_000)
})
