import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier, type Verifier, VerifierError } from '../../src/verifier/index.js'
import { ISSUER } from '../helpers/broker.js'
import { dpopKey, dpopProof, type DpopKey } from '../helpers/dpop.js'
import { startMoto, type PrivateMoto } from '../helpers/moto.js'
import { type AwsTestBroker, createRole, makeAwsBroker } from '../credentials/aws/aws-broker.js'
import { awsDetail, ROLE } from '../credentials/aws/fixtures.js'

/**
 * The broker's own resource (`POST /v1/credentials/aws`) and `writ/verifier` run one resource-side
 * DPoP check: every attack on a token's DPoP binding is refused by both, with the same error code
 * and the same description.
 */

const URL_AWS = `${ISSUER}/v1/credentials/aws`

let moto: PrivateMoto
let broker: AwsTestBroker
let verifier: Verifier

beforeAll(async () => {
  moto = await startMoto()
  broker = await makeAwsBroker(moto)
  await createRole(broker.iam, 'writ-docs')
  verifier = createVerifier({
    issuer: ISSUER,
    // An aws grant's token names its role as the audience.
    audience: ROLE,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: broker.clock,
    liveness: { mode: 'none' },
  })
})
afterAll(async () => {
  await verifier?.close()
  await broker?.close()
  await moto?.stop()
})

async function boundToken(): Promise<{ key: DpopKey; token: string }> {
  const key = await dpopKey()
  const proof = await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/v1/tokens`, clock: broker.clock })
  const { access_token } = await broker.token([awsDetail()], { headers: { dpop: proof } })
  return { key, token: access_token }
}

interface Presentation {
  scheme: 'Bearer' | 'DPoP'
  token: string
  proof?: string
}

/** The broker's answer at the AWS route: status, error code and description. */
async function atBroker(p: Presentation): Promise<{ status: number; error: string; description: string }> {
  const res = await broker.call('POST', '/v1/credentials/aws', {
    headers: {
      authorization: `${p.scheme} ${p.token}`,
      'content-type': 'application/json',
      ...(p.proof !== undefined ? { dpop: p.proof } : {}),
    },
    body: JSON.stringify({ role_arn: ROLE }),
  })
  const body = await res.json()
  return { status: res.status, error: body.error, description: body.error_description }
}

/** The verifier's answer to the same request: 'ok', or its error code and message. */
async function atVerifier(p: Presentation): Promise<{ error: string; description: string } | 'ok'> {
  const request = new Request(URL_AWS, {
    method: 'POST',
    headers: { authorization: `${p.scheme} ${p.token}`, ...(p.proof !== undefined ? { dpop: p.proof } : {}) },
  })
  try {
    await verifier.verifyRequest(request)
    return 'ok'
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err
    return { error: err.code, description: err.message }
  }
}

describe('one resource-side DPoP check at the AWS route and in writ/verifier', () => {
  const nowSeconds = () => Math.floor(broker.clock() / 1000)
  const attacks: Array<[string, () => Promise<Presentation>]> = [
    ['the bound token presented as a bearer token, with a valid proof', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'Bearer', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock }) }
    }],
    ['the bound token without a proof', async () => ({ scheme: 'DPoP', token: (await boundToken()).token })],
    ['the bound token with an empty DPoP header', async () => ({ scheme: 'DPoP', token: (await boundToken()).token, proof: '' })],
    ['a proof made by another key', async () => {
      const { token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(await dpopKey(), { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock }) }
    }],
    ['a proof made for another URL', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: `${ISSUER}/v1/tokens`, accessToken: token, clock: broker.clock }) }
    }],
    ['a proof made for another method', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'GET', htu: URL_AWS, accessToken: token, clock: broker.clock }) }
    }],
    ['a proof made for another token (ath)', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: 'another-token', clock: broker.clock }) }
    }],
    ['a proof without ath', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, clock: broker.clock }) }
    }],
    ['two proofs in one DPoP header', async () => {
      const { key, token } = await boundToken()
      const one = () => dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock })
      return { scheme: 'DPoP', token, proof: `${await one()}, ${await one()}` }
    }],
    ['a proof older than the proof max age', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, iat: nowSeconds() - 120, clock: broker.clock }) }
    }],
    ['a proof from beyond the clock tolerance in the future', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, iat: nowSeconds() + 30, clock: broker.clock }) }
    }],
    ['a proof pointing at a key elsewhere (jku)', async () => {
      const { key, token } = await boundToken()
      return { scheme: 'DPoP', token, proof: await dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock, header: { jku: 'https://evil.example/jwks' } }) }
    }],
    ['a bearer token presented with the DPoP scheme', async () => {
      const { access_token } = await broker.token([awsDetail()])
      return { scheme: 'DPoP', token: access_token }
    }],
  ]

  it.each(attacks)('refuses %s in both places, with the same code and description', async (_, make) => {
    moto.clearRequests()
    const presentation = await make()
    const broker = await atBroker(presentation)
    const verifier = await atVerifier(presentation)
    expect(verifier).not.toBe('ok')
    expect(broker.status).toBe(401)
    expect({ error: broker.error, description: broker.description }).toEqual(verifier)
    expect(moto.requests('AssumeRole')).toEqual([])
  })

  it('refuses a replayed proof in both places, with the same code and description', async () => {
    const { key, token } = await boundToken()
    const proof = () => dpopProof(key, { htm: 'POST', htu: URL_AWS, accessToken: token, clock: broker.clock })
    // Each side remembers its own proofs: one proof per side, each used twice.
    const forBroker: Presentation = { scheme: 'DPoP', token, proof: await proof() }
    const forVerifier: Presentation = { scheme: 'DPoP', token, proof: await proof() }
    expect((await atBroker(forBroker)).status).toBe(200)
    expect(await atVerifier(forVerifier)).toBe('ok')
    const brokerReplay = await atBroker(forBroker)
    const verifierReplay = await atVerifier(forVerifier)
    expect(brokerReplay.status).toBe(401)
    expect({ error: brokerReplay.error, description: brokerReplay.description }).toEqual(verifierReplay)
    expect(verifierReplay).toMatchObject({ error: 'invalid_dpop_proof', description: expect.stringMatching(/already used/) })
  })
})
