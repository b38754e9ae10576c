import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '../..')

/**
 * The ```sh blocks of the README section under `heading` (up to the next heading of the same or
 * a higher level), in order, each as the text a reader would paste. Tests run these verbatim.
 */
export function readmeShellBlocks(heading: string, file = 'README.md'): string[] {
  const text = readFileSync(resolve(ROOT, file), 'utf8')
  const lines = text.split('\n')
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, '') === heading)
  if (start < 0) throw new Error(`no heading "${heading}" in ${file}`)
  const level = /^#+/.exec(lines[start]!)![0].length
  const blocks: string[] = []
  let current: string[] | undefined
  for (const line of lines.slice(start + 1)) {
    if (current === undefined && new RegExp(`^#{1,${level}} `).test(line)) break
    if (current === undefined && line.trim() === '```sh') current = []
    else if (current !== undefined && line.trim() === '```') {
      blocks.push(current.join('\n'))
      current = undefined
    } else current?.push(line)
  }
  return blocks
}

/**
 * Shell functions that make `npx writ` and `npm start` run the already built binaries (the test
 * suite builds them first): what npx and npm would run, without their start-up time or a second
 * build racing the tests that use dist/.
 */
export const SHIMS = `
npx() { if [ "$1" = writ ]; then shift; node "${ROOT}/dist/cli/index.js" "$@"; else command npx "$@"; fi; }
npm() { if [ "$1" = start ]; then node "${ROOT}/dist/main.js"; else command npm "$@"; fi; }
`
