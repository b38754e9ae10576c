import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { epochSeconds, manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import type { Grant } from '../../src/grants/grant.js'
import { claimsSha256, tokenClaimsSha256 } from '../../src/wire/claims-digest.js'
import {
  audienceFor,
  createKeyManager,
  encodeAccessTokenPayload,
  mintAccessToken,
  scopeFor,
  type SigningAlg,
  type SigningKey,
} from '../../src/tokens/index.js'

const ISSUER = 'https://writ.example.com'
const APP = 'https://git.example.com/acme/app'

async function keysFor(alg: SigningAlg) {
  const clock = manualClock()
  const keys = createKeyManager({
    alg,
    source: 'generate',
    rotationSeconds: 7 * 86400,
    maxTokenTtlSeconds: 3600,
    retireGraceSeconds: 0,
    clock,
  })
  await keys.init()
  return { keys, clock }
}

const mint = (key: SigningKey, grant: Grant) =>
  mintAccessToken({ key, issuer: ISSUER, audience: 'writ', grant, scope: 'x' })

function grantAt(now: number, overrides: Partial<Grant> = {}): Grant {
  return {
    id: randomBytes(16).toString('base64url'),
    clientId: 'agent-a',
    task: {
      id: 'JIRA-4711',
      purpose: 'Organize the project documentation',
      requested_by: 'carol@example.com',
    },
    manifestSha256: 'a'.repeat(64),
    authorizationDetails: [
      { type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/**' },
      { type: 'repo', actions: ['write'], locations: [APP], identifier: 'docs/**' },
    ],
    ruleIds: ['docs-read', 'docs-write'],
    issuedAt: now,
    expiresAt: now + 900,
    ...overrides,
  }
}

describe('mintAccessToken', () => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    it(`mints an RFC 9068 token jose verifies with only the JWKS (${alg})`, async () => {
      const { keys, clock } = await keysFor(alg)
      const grant = grantAt(epochSeconds(clock))
      const token = await mintAccessToken({
        key: keys.signingKey(),
        issuer: ISSUER,
        audience: audienceFor(grant.authorizationDetails, 'writ'),
        grant,
        scope: scopeFor(grant.authorizationDetails),
        clock,
      })
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), {
        typ: 'at+jwt',
        algorithms: [alg],
        issuer: ISSUER,
        audience: APP,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
        currentDate: new Date(clock()),
      })
      expect(protectedHeader).toEqual({ alg, typ: 'at+jwt', kid: keys.signingKey().kid })
      expect(payload).toEqual({
        iss: ISSUER,
        sub: 'agent-a',
        aud: APP,
        exp: grant.expiresAt,
        iat: grant.issuedAt,
        jti: grant.id,
        client_id: 'agent-a',
        scope: 'repo:read repo:write',
        authorization_details: grant.authorizationDetails,
        task: grant.task,
      })
    })
  }

  it('adds cnf.jkt for a DPoP-bound grant and the approval when given', async () => {
    const { keys, clock } = await keysFor('ES256')
    const grant = grantAt(epochSeconds(clock), { cnfJkt: 'x'.repeat(43) })
    const approval = {
      id: 'apr_1',
      manifest_sha256: 'a'.repeat(64),
      approvers: [{ sub: 'carol', aaguid: 'z', at: 1 }],
    }
    const token = await mintAccessToken({
      key: keys.signingKey(),
      issuer: ISSUER,
      audience: ['https://a.example', 'https://b.example'],
      grant,
      scope: 'repo:read',
      approval,
    })
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), {
      typ: 'at+jwt',
      algorithms: ['ES256'],
      audience: 'https://b.example',
      currentDate: new Date(clock()),
    })
    expect(payload.cnf).toEqual({ jkt: 'x'.repeat(43) })
    expect(payload.approval).toEqual(approval)
    expect(payload.aud).toEqual(['https://a.example', 'https://b.example'])
  })

  it('signs a payload fixed beforehand: the claims whose digest the grant records', async () => {
    const { keys, clock } = await keysFor('EdDSA')
    const grant = grantAt(epochSeconds(clock))
    const payload = encodeAccessTokenPayload({ issuer: ISSUER, audience: APP, grant, scope: 'repo:read' })
    const token = await mintAccessToken({ key: keys.signingKey(), payload })
    expect(token.split('.')[1]).toBe(payload)
    expect(tokenClaimsSha256(token)).toBe(claimsSha256(payload))
    const { payload: claims } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), {
      typ: 'at+jwt',
      algorithms: ['EdDSA'],
      currentDate: new Date(clock()),
    })
    expect(claims).toMatchObject({ jti: grant.id, aud: APP, authorization_details: grant.authorizationDetails })
  })

  it('keeps only id, purpose and requested_by of the task', async () => {
    const { keys, clock } = await keysFor('ES256')
    const task = { id: 'T-1', extra: 'no' } as unknown as Grant['task']
    const grant = grantAt(epochSeconds(clock), { task })
    const token = await mint(keys.signingKey(), grant)
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), {
      typ: 'at+jwt',
      algorithms: ['ES256'],
      currentDate: new Date(clock()),
    })
    expect(payload.task).toEqual({ id: 'T-1' })
  })

  it('a token signed before a rotation still verifies against the JWKS after it', async () => {
    const { keys, clock } = await keysFor('ES256')
    const grant = grantAt(epochSeconds(clock))
    const token = await mint(keys.signingKey(), grant)
    await keys.rotate()
    expect(decodeProtectedHeader(token).kid).not.toBe(keys.signingKey().kid)
    await expect(
      jwtVerify(token, createLocalJWKSet(keys.jwks()), {
        typ: 'at+jwt',
        algorithms: ['ES256'],
        currentDate: new Date(clock()),
      }),
    ).resolves.toBeDefined()
  })

  it('is rejected by jose when the token is altered', async () => {
    const { keys, clock } = await keysFor('EdDSA')
    const grant = grantAt(epochSeconds(clock))
    const token = await mint(keys.signingKey(), grant)
    const [header, , signature] = token.split('.')
    const forged = Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')
    await expect(
      jwtVerify(`${header}.${forged}.${signature}`, createLocalJWKSet(keys.jwks()), {
        typ: 'at+jwt',
        algorithms: ['EdDSA'],
      }),
    ).rejects.toThrow()
  })

  it('refuses a grant that has already expired by the given clock', async () => {
    const { keys, clock } = await keysFor('ES256')
    const grant = grantAt(epochSeconds(clock))
    clock.advance(900 * 1000)
    const err = await mintAccessToken({
      key: keys.signingKey(),
      issuer: ISSUER,
      audience: 'writ',
      grant,
      scope: 'x',
      clock,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritError)
    expect((err as WritError).code).toBe('invalid_grant')
  })

  it('refuses an empty audience', async () => {
    const { keys, clock } = await keysFor('ES256')
    const grant = grantAt(epochSeconds(clock))
    await expect(
      mintAccessToken({ key: keys.signingKey(), issuer: ISSUER, audience: [], grant, scope: 'x' }),
    ).rejects.toThrow(/audience/)
  })
})

describe('scopeFor', () => {
  it('lists unique type:action pairs in first-seen order', () => {
    expect(
      scopeFor([
        { type: 'repo', actions: ['read'] },
        { type: 'repo', actions: ['write', 'read'] },
        { type: 'aws', actions: ['s3:GetObject'] },
      ]),
    ).toBe('repo:read repo:write aws:s3:GetObject')
  })

  it('names the bare type of a grant without actions', () => {
    expect(scopeFor([{ type: 'calendar' }, { type: 'repo', actions: ['read'] }])).toBe(
      'calendar repo:read',
    )
  })

  it('refuses characters that would split or corrupt the scope', () => {
    expect(() => scopeFor([{ type: 'repo', actions: ['read write'] }])).toThrow(WritError)
    expect(() => scopeFor([{ type: 're"po', actions: ['read'] }])).toThrow(
      /authorization_details\[0\]/,
    )
  })
})

describe('audienceFor', () => {
  it('uses the single location as a string', () => {
    const details = [
      { type: 'repo', locations: [APP] },
      { type: 'repo', locations: [APP] },
    ]
    expect(audienceFor(details, 'writ')).toBe(APP)
  })

  it('sorts several unique locations into an array', () => {
    expect(
      audienceFor(
        [
          { type: 'repo', locations: ['https://b.example', 'https://a.example'] },
          { type: 'api', locations: ['https://b.example'] },
        ],
        'writ',
      ),
    ).toEqual(['https://a.example', 'https://b.example'])
  })

  it('falls back to the default audience when no grant names a location', () => {
    expect(audienceFor([{ type: 'repo' }], 'writ')).toBe('writ')
  })
})
