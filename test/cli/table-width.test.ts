import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createOutput, fitWidths } from '../../src/cli/output.js'

/** A terminal `columns` wide that keeps what is written to it. */
function terminal(columns: number | undefined, tty = true) {
  let text = ''
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString()
        done()
      },
    }),
    { isTTY: tty, columns },
  )
  return { stream, text: () => text }
}

const rows = [
  ['agent-b', 'JIRA-4711', 'repo read https://git.example.com/acme/app docs/**; repo write https://git.example.com/acme/app docs/**', '14m 05s'],
  ['demo-agent', 'REL-42', 'deploy create https://deploy.example.com/acme/app', '4m 59s'],
]

describe('tables on a terminal', () => {
  it('fit the terminal width: the widest column gives way, cut cells end in …', () => {
    const out = terminal(80)
    createOutput({ json: false, stdout: out.stream, env: { NO_COLOR: '1' } }).table(['CLIENT', 'TASK', 'GRANTS', 'EXPIRES IN'], rows)
    const lines = out.text().trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
    expect(lines[1]).toMatch(/^agent-b {5}JIRA-4711 {2}repo read .*… {2}14m 05s$/)
    expect(lines[2]).toContain('4m 59s')
  })

  it('are not cut when written to a pipe or file', () => {
    const out = terminal(undefined, false)
    createOutput({ json: false, stdout: out.stream }).table(['CLIENT', 'TASK', 'GRANTS', 'EXPIRES IN'], rows)
    expect(out.text()).toContain(rows[0]![2])
  })

  it('shrink no column below its minimum, however narrow the terminal', () => {
    expect(fitWidths([10, 40, 6], [6, 8, 6], 30)).toEqual([10, 10, 6])
    expect(fitWidths([10, 40, 6], [6, 8, 6], 5)).toEqual([6, 8, 6])
    expect(fitWidths([10, 40], [6, 8], undefined)).toEqual([10, 40])
  })
})
