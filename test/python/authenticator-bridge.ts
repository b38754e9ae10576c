/**
 * The repo's software authenticator (test/approvals/fixtures/soft-authenticator.ts) for the Python
 * test suite: one JSON request per line on stdin, one JSON answer per line on stdout. Python drives
 * the enrolment and approval ceremonies over HTTP and asks this process only for what a security
 * key does: register (packed attestation chained to this process's test PKI) and assert.
 *
 *   {"op":"pki"}                                  -> {"rootPem","aaguid"}
 *   {"op":"hash","secret"}                        -> {"hash"}  (argon2id, as the broker's policy wants)
 *   {"op":"register","who","origin","options"}    -> RegistrationResponseJSON
 *   {"op":"assert","who","options"}               -> AuthenticationResponseJSON
 */
import { createInterface } from 'node:readline'
import { hashSecret } from '../../src/client-auth/index.js'
import { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { attestationPki } from '../approvals/fixtures/x509.js'

const AAGUID = '3b8a3f6e-2c4d-4e5f-8a9b-0c1d2e3f4a5b'
const pki = attestationPki(AAGUID, 'Python')
const people = new Map<string, SoftAuthenticator>()

async function answer(request: Record<string, unknown>): Promise<unknown> {
  switch (request.op) {
    case 'pki':
      return { rootPem: pki.root.pem, aaguid: AAGUID }
    case 'hash':
      return { hash: await hashSecret(String(request.secret)) }
    case 'register': {
      const who = String(request.who)
      const auth = new SoftAuthenticator({
        aaguid: AAGUID,
        origin: String(request.origin),
        attestation: { fmt: 'packed', leaf: pki.leaf, chain: [pki.intermediate] },
      })
      people.set(who, auth)
      return auth.register(request.options as never)
    }
    case 'assert': {
      const auth = people.get(String(request.who))
      if (!auth) throw new Error(`no authenticator registered for ${String(request.who)}`)
      return auth.assert(request.options as never)
    }
    default:
      throw new Error(`unknown op ${String(request.op)}`)
  }
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line.trim() === '') continue
  try {
    process.stdout.write(`${JSON.stringify({ ok: await answer(JSON.parse(line) as Record<string, unknown>) })}\n`)
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`)
  }
}
