/**
 * The benchmark table in docs/benchmarks.md is the one `node bench/readme-table.js` makes from the
 * committed bench/results/latest.json: figures in the docs cannot drift from the results, nor be
 * edited by hand.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')
const script = join(root, 'bench/readme-table.js')
const doc = join(root, 'docs/benchmarks.md')
const results = join(root, 'bench/results/latest.json')

/** Runs the table script; its exit code and output. */
async function table(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { cwd: root })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('the benchmark table in docs/benchmarks.md', () => {
  it('is the one the script makes from the committed results', async () => {
    const { code, stderr } = await table(['--check'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })

  it('shows the committed results: machine, date, rates and ratios', () => {
    const latest = JSON.parse(readFileSync(results, 'utf8'))
    const text = readFileSync(doc, 'utf8')
    expect(text).toContain(latest.machine.cpu)
    expect(text).toContain(latest.date.slice(0, 10))
    const at64 = latest.ratios.find((r: { connections: number }) => r.connections === 64)
    expect(text).toContain(`${at64.vsTrivialRoute.toFixed(3)} × the trivial route`)
  })

  it('refuses a figure edited by hand', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-bench-table-'))
    const edited = join(dir, 'benchmarks.md')
    const text = readFileSync(doc, 'utf8')
    const figure = /\| ([\d,]+) tokens\/s/.exec(text)
    expect(figure).not.toBeNull()
    writeFileSync(edited, text.replace(figure![0], `| 9${figure![1]} tokens/s`))
    const { code, stderr } = await table(['--check', '--doc', edited])
    expect(code).toBe(1)
    expect(stderr).toContain('the benchmark table is not the one')
  })

  it('follows new results: rewriting the table takes the new figures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-bench-table-'))
    const copy = join(dir, 'benchmarks.md')
    const newer = join(dir, 'latest.json')
    writeFileSync(copy, readFileSync(doc, 'utf8'))
    const latest = JSON.parse(readFileSync(results, 'utf8'))
    latest.date = '2031-01-02T03:04:05.000Z'
    latest.machine.cpu = 'Test CPU 9000'
    writeFileSync(newer, JSON.stringify(latest))
    expect((await table(['--check', '--doc', copy, '--results', newer])).code).toBe(1)
    expect((await table(['--doc', copy, '--results', newer])).code).toBe(0)
    const rewritten = readFileSync(copy, 'utf8')
    expect(rewritten).toContain('Test CPU 9000')
    expect(rewritten).toContain('2031-01-02')
    expect((await table(['--check', '--doc', copy, '--results', newer])).code).toBe(0)
    // Only the text between the markers changes.
    const outside = (t: string) => t.replace(/<!-- bench-table:start[\s\S]*<!-- bench-table:end -->/, '')
    expect(outside(rewritten)).toBe(outside(readFileSync(doc, 'utf8')))
  })
})
