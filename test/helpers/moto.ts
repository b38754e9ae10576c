import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis.js'

/** One AWS API request moto received, as its recorder logged it. */
export interface MotoRequest {
  /** The query-protocol `Action` (AssumeRole, PutRolePolicy, ...). */
  action: string
  /** Every form parameter of the request. */
  params: Record<string, string>
  /** The SigV4 credential scope's service (`sts`, `iam`). */
  service: string
}

/** A private `moto_server` child process serving STS and IAM, with its request recorder on. */
export interface PrivateMoto {
  /** `http://127.0.0.1:<port>`: the endpoint override for the AWS SDK clients. */
  endpoint: string
  /** Dummy static credentials; moto accepts any. */
  credentials: { accessKeyId: string; secretAccessKey: string }
  /** Requests received since the last {@link PrivateMoto.clearRequests}, optionally of one action. */
  requests(action?: string): MotoRequest[]
  clearRequests(): void
  /** Kills the server and removes its recording. */
  stop(): Promise<void>
}

const READY_TIMEOUT_MS = 20_000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts `moto_server` on a free port with moto's request recorder writing to a private file, and
 * waits until it answers. The child is killed when the test process exits, whatever happens.
 */
export async function startMoto(): Promise<PrivateMoto> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'writ-moto-'))
  const recording = join(dir, 'requests.jsonl')
  writeFileSync(recording, '')
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOTO_ENABLE_RECORDING: 'true', MOTO_RECORDER_FILEPATH: recording },
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  const endpoint = `http://127.0.0.1:${port}`

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`moto_server on port ${port} exited at start:\n${output}`)
    }
    const ok = await fetch(`${endpoint}/moto-api/`).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`moto_server on port ${port} did not answer within ${READY_TIMEOUT_MS} ms:\n${output}`)
    }
    await sleep(100)
  }
  // Recording begins now: the readiness probes above are not AWS calls anyway.
  writeFileSync(recording, '')

  return {
    endpoint,
    credentials: { accessKeyId: 'AKIDWRITTEST', secretAccessKey: 'writ-test-secret' },
    requests(action) {
      const out: MotoRequest[] = []
      for (const line of readFileSync(recording, 'utf8').split('\n')) {
        if (!line) continue
        const entry = JSON.parse(line) as { body?: string; body_encoded?: boolean; headers?: Record<string, string> }
        const body = entry.body_encoded ? Buffer.from(entry.body ?? '', 'base64').toString('utf8') : (entry.body ?? '')
        const params = Object.fromEntries(new URLSearchParams(body))
        if (!params.Action) continue
        const service = /\/[a-z0-9-]+\/([a-z0-9-]+)\/aws4_request/.exec(entry.headers?.Authorization ?? '')?.[1] ?? ''
        if (action === undefined || params.Action === action) out.push({ action: params.Action, params, service })
      }
      return out
    },
    clearRequests() {
      writeFileSync(recording, '')
    },
    async stop() {
      process.off('exit', killOnExit)
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
