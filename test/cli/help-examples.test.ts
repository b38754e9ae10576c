import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { CLI, ROOT } from '../helpers/cli.js'

const run = promisify(execFile)

/** The subcommand names a `--help` text lists under "Commands:" (without `help`). */
function listedCommands(help: string): string[] {
  const at = help.indexOf('\nCommands:\n')
  if (at < 0) return []
  return help
    .slice(at)
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*)\b/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help')
}

const help = async (args: string[]): Promise<string> =>
  (await run(process.execPath, [CLI, ...args, '--help'], { cwd: ROOT })).stdout

describe('writ --help', () => {
  it('shows an example for every command and subcommand', async () => {
    const missing: string[] = []
    const commands = listedCommands(await help([]))
    expect(commands.length).toBeGreaterThan(8)
    for (const command of commands) {
      const text = await help([command])
      if (!/\nExamples?\b/.test(text)) missing.push(command)
      for (const sub of listedCommands(text)) {
        if (!/\nExamples?\b/.test(await help([command, sub]))) missing.push(`${command} ${sub}`)
      }
    }
    expect(missing).toEqual([])
  }, 120_000)
})
