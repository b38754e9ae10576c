import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { A, enrol, form, makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import {
  authorizationPolicyText,
  authorizeQuery,
  CLIENT,
  consent,
  DOCS,
  pkce,
  redeem,
  startRequest,
} from '../authorization/helpers.js'
import { ACCESS_TOKEN, TOKEN_EXCHANGE } from './helpers.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator

beforeAll(async () => {
  // The interactive client may hand its tokens to agent-a.
  const policyText = (await authorizationPolicyText()).replace(
    'rules: [docs-read, self-deploy, careful-deploy, db-migrate]',
    'rules: [docs-read, self-deploy, careful-deploy, db-migrate]\n    delegate_to: { clients: [agent-a], max_depth: 1 }',
  )
  broker = await makeApprovalBroker({ policyText })
  alice = broker.authenticator()
  await enrol(broker, alice, 'alice@example.com', 'release-managers')
})
afterAll(() => broker?.close())

describe('token exchange of a token a person authorized', () => {
  it('keeps the person as the subject (RFC 8693 §1.1), not the client they authorized', async () => {
    const { verifier, challenge } = pkce()
    const id = await startRequest(broker, authorizeQuery(challenge))
    const code = (await consent(broker, id, alice)).get('code')!
    const issued = await redeem(broker, { code, code_verifier: verifier })
    expect(issued.status).toBe(200)
    const parent = (await issued.json()).access_token as string
    expect(decodeJwt(parent)).toMatchObject({ sub: 'alice@example.com', client_id: CLIENT })

    const exchanged = await broker.call('POST', '/oauth/token', {
      ...form({
        grant_type: TOKEN_EXCHANGE,
        subject_token: parent,
        subject_token_type: ACCESS_TOKEN,
        authorization_details: JSON.stringify(DOCS),
      }),
      basic: A,
    })
    expect(exchanged.status).toBe(200)
    const child = decodeJwt((await exchanged.json()).access_token as string)
    expect(child).toMatchObject({ sub: 'alice@example.com', client_id: 'agent-a', act: { sub: 'agent-a' } })
    const [recorded] = await broker.store.grants.listGrants({ clientId: 'agent-a' })
    expect(recorded!.delegation).toMatchObject({ subject: 'alice@example.com', parentClientId: CLIENT })
  })
})
