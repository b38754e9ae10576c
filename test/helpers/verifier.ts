import { createVerifier, type Verifier, VerifierError, type VerifierOptions } from '../../src/verifier/index.js'
import { ISSUER, type TestBroker } from './broker.js'

/**
 * A `writ/verifier` of `broker`'s tokens: its issuer, its JWKS fetched in process, its clock;
 * `options` give the audience, the liveness mode and anything else.
 */
export function brokerVerifier(
  broker: TestBroker,
  options: Pick<VerifierOptions, 'audience' | 'liveness'> & Partial<VerifierOptions>,
): Verifier {
  return createVerifier({
    issuer: ISSUER,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: broker.clock,
    ...options,
  })
}

/** The verifier's answer for a token: 'ok' or the error code. */
export async function outcome(verifier: Verifier, token: string): Promise<string> {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (err) {
    if (err instanceof VerifierError) return err.code
    throw err
  }
}
