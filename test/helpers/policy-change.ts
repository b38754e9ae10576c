import { hashSecret } from '../../src/client-auth/index.js'
import { testPolicyText } from './broker.js'

/** The secret of `agent-c`, the client {@link policyWithoutAgentB} declares instead of agent-b. */
export const AGENT_C_SECRET = 'secret-c'

/**
 * The test policy after a change: `agent-b` removed (a compromised client), `agent-c` added.
 * Brokers on this policy and on the test policy, on one store, are replicas mid-way through a
 * rolling policy change: each lacks a client the other issues to.
 */
export async function policyWithoutAgentB(): Promise<string> {
  const full = await testPolicyText()
  const withoutB = full.replace(/ {2}- id: agent-b\n(?: {4}.*\n)+?(?= {2}- id: )/, '')
  const agentC = `  - id: agent-c
    auth: client_secret
    secret_hash: "${await hashSecret(AGENT_C_SECRET)}"
    rules: [docs-read]
`
  const text = withoutB.replace('  - id: agent-jwt\n', `${agentC}  - id: agent-jwt\n`)
  // Ensure the fixture is what it claims: agent-b is gone, agent-c is declared.
  if (text.includes('agent-b') || !text.includes('id: agent-c')) {
    throw new Error('the policy fixture did not change as intended')
  }
  return text
}
