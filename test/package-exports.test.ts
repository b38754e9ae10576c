import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from './helpers/cli.js'

const run = promisify(execFile)

// The built package, imported by its public names only (the exports map), as a user would.
describe('package exports', () => {
  it('exposes ".", "./verifier" and "./client", and nothing deeper', async () => {
    const script = `
      const main = await import('writ')
      const verifier = await import('writ/verifier')
      const client = await import('writ/client')
      let deep = 'blocked'
      try { await import('writ/dist/config.js'); deep = 'open' } catch {}
      console.log(JSON.stringify({
        main: ['createBroker', 'loadPolicy', 'explain', 'verifyApprovalEvidence', 'verifyApprovalFromChain', 'loadTrustAnchors'].filter((n) => typeof main[n] === 'function'),
        verifier: ['createVerifier', 'writMiddleware', 'authorize', 'createMcpProtection', 'mcpNodeMiddleware', 'mcpMiddleware', 'guardToolsList'].filter((n) => typeof verifier[n] === 'function'),
        client: ['requestToken', 'fetchWithToken', 'createDpopProof', 'WritMcpAuthProvider'].filter((n) => typeof client[n] === 'function'),
        deep,
      }))`
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT })
    expect(JSON.parse(stdout)).toEqual({
      main: ['createBroker', 'loadPolicy', 'explain', 'verifyApprovalEvidence', 'verifyApprovalFromChain', 'loadTrustAnchors'],
      verifier: ['createVerifier', 'writMiddleware', 'authorize', 'createMcpProtection', 'mcpNodeMiddleware', 'mcpMiddleware', 'guardToolsList'],
      client: ['requestToken', 'fetchWithToken', 'createDpopProof', 'WritMcpAuthProvider'],
      deep: 'blocked',
    })
  })
})
