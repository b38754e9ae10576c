import { describe, expect, it } from 'vitest'
import { auditIndexRefs } from '../../src/audit/audit-index-refs.js'
import { encodeGrantIssued, grantIssuedEvent } from '../../src/grants/grant-issued-event.js'
import type { AuditEvent } from '../../src/audit/types.js'
import type { Grant } from '../../src/grants/grant.js'
import { encodeGrantRecord, parseGrantRecord } from '../../src/grants/grant-record.js'
import { canonicalize } from '../../src/manifest/canonicalize.js'

const TIME = '2026-12-01T10:00:00.123Z'

const base: Grant = {
  id: 'g_1',
  clientId: 'agent-a',
  task: { id: 'JIRA-1' },
  manifestSha256: 'a'.repeat(64),
  authorizationDetails: [
    { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**', limits: { z: 1, a: [0.5, 1e21, -0] } },
  ],
  ruleIds: ['docs-read'],
  issuedAt: 1_800_000_000,
  expiresAt: 1_800_000_900,
}

const variants: Array<[string, Grant]> = [
  ['a plain grant', base],
  ['a task with purpose and requester', { ...base, task: { id: 'T "quoted" ✓', purpose: 'tidy\ndocs', requested_by: 'carol@example.com' } }],
  ['a DPoP-bound grant of two rules', { ...base, cnfJkt: 'jkt-1', ruleIds: ['docs-read', 'wiki-write'] }],
  [
    'an approved grant with two approvers',
    {
      ...base,
      approval: {
        id: 'apr_1',
        manifestSha256: 'a'.repeat(64),
        approvers: [
          { sub: 'alice@example.com', aaguid: '00000000-0000-0000-0000-000000000000', credentialId: 'Y3JlZA', at: 1_800_000_000 },
          { sub: 'bob@example.com', aaguid: 'ee882879-721c-4913-9775-3dfcce97072a', credentialId: 'Y3JlZB', at: 1_800_000_001 },
        ],
      },
    },
  ],
  ['a grant with its token\'s claims digest', { ...base, claimsSha256: 'q'.repeat(42) + '_', cnfJkt: 'jkt-1' }],
  [
    'a delegated grant two hand-overs deep',
    {
      ...base,
      clientId: 'worker',
      delegation: {
        parentId: 'g_0',
        parentClientId: 'planner',
        ancestors: [
          { clientId: 'agent-a', grantId: 'g_root' },
          { clientId: 'planner', grantId: 'g_0' },
        ],
        depth: 2,
        maxDepth: 3,
        subject: 'agent-a',
        act: { sub: 'worker', act: { sub: 'planner' } },
      },
    },
  ],
  [
    'a grant for a person a trusted issuer proved (token exchange with an ID token)',
    {
      ...base,
      task: { id: 'DOC-9', requested_by: 'alice@example.com' },
      onBehalfOf: { subject: 'alice@example.com', issuer: 'https://idp.example.com' },
    },
  ],
  ['unicode beyond the BMP and control characters', { ...base, clientId: 'agent-😀', task: { id: 'T\u0001\u2028' } }],
]

describe('encodeGrantIssued', () => {
  it.each(variants)('writes the canonical JSON of grantIssuedEvent, byte for byte: %s', (_name, grant) => {
    const encoded = encodeGrantIssued(grant)
    expect(encoded.encode(TIME)).toBe(canonicalize({ ...grantIssuedEvent(grant), time: TIME }))
    // The same with the details' canonical JSON handed in, as issuance does.
    expect(encodeGrantIssued(grant, canonicalize(grant.authorizationDetails)).encode(TIME)).toBe(encoded.encode(TIME))
    expect(encoded).toMatchObject({ type: 'grant.issued', actor: `client:${grant.clientId}` })
    expect(encoded.refs).toEqual(auditIndexRefs({ ...grantIssuedEvent(grant), time: TIME } as unknown as AuditEvent))
  })

  it('refuses what canonical JSON refuses: a lone surrogate, a number that is not finite', () => {
    expect(() => encodeGrantIssued({ ...base, task: { id: 'T\ud800' } }).encode(TIME)).toThrow(TypeError)
    expect(() => encodeGrantIssued({ ...base, expiresAt: Number.NaN }).encode(TIME)).toThrow(TypeError)
  })
})

describe('the grant record (encodeGrantRecord, parseGrantRecord)', () => {
  /** The grant as any JSON keeps it (-0 in the details' limits is 0 there). */
  const asJson = (grant: Grant): Grant => JSON.parse(JSON.stringify(grant)) as Grant

  it.each(variants)('is the grant.issued event, and reads back as the same grant: %s', (_name, grant) => {
    const record = encodeGrantRecord(grant, TIME)
    expect(record).toBe(encodeGrantIssued(grant).encode(TIME))
    expect(encodeGrantRecord(grant, TIME, canonicalize(grant.authorizationDetails))).toBe(record)
    expect(parseGrantRecord(record)).toStrictEqual(asJson(grant))
  })

  it("reads the plain JSON of a grant, as brokers before this form wrote records", () => {
    for (const [, grant] of variants) expect(parseGrantRecord(JSON.stringify(grant))).toStrictEqual(asJson(grant))
  })

  it('throws a SyntaxError on a record that is not JSON', () => {
    expect(() => parseGrantRecord('{"type":"grant.issued"')).toThrow(SyntaxError)
  })
})
