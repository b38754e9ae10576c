import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { approvalChallenge, type ApprovalChallengeInput } from '../../../src/approvals/ceremony/approval-challenge.js'

const input: ApprovalChallengeInput = {
  approval_id: 'Yp3xQ',
  manifest_sha256: 'ab'.repeat(32),
  authorization_details: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/é'], n: 1e21 }],
  client_id: 'agent-a',
  exp: 1767225900,
  nonce: 'q8Zr',
}

describe('approvalChallenge', () => {
  it('is SHA-256 over the RFC 8785 canonical JSON of exactly the six bound members, base64url', () => {
    const canonical =
      '{"approval_id":"Yp3xQ","authorization_details":[{"actions":["create"],"locations":["https://deploy.example.com/é"],"n":1e+21,"type":"deploy"}],' +
      `"client_id":"agent-a","exp":1767225900,"manifest_sha256":"${'ab'.repeat(32)}","nonce":"q8Zr"}`
    expect(approvalChallenge(input)).toBe(createHash('sha256').update(canonical, 'utf8').digest('base64url'))
  })

  it('ignores member order and anything beyond the six members', () => {
    const reordered = { nonce: input.nonce, exp: input.exp, client_id: input.client_id, authorization_details: input.authorization_details, manifest_sha256: input.manifest_sha256, approval_id: input.approval_id }
    expect(approvalChallenge(reordered)).toBe(approvalChallenge(input))
    expect(approvalChallenge({ ...input, extra: 'x' } as ApprovalChallengeInput)).toBe(approvalChallenge(input))
  })

  it.each([
    ['approval_id', { approval_id: 'other' }],
    ['manifest_sha256', { manifest_sha256: 'cd'.repeat(32) }],
    ['authorization_details', { authorization_details: [{ type: 'deploy', actions: ['delete'] }] }],
    ['client_id', { client_id: 'agent-b' }],
    ['exp', { exp: 1767225901 }],
    ['nonce', { nonce: 'q8Zs' }],
  ])('changes when %s changes', (_name, change) => {
    expect(approvalChallenge({ ...input, ...change })).not.toBe(approvalChallenge(input))
  })
})
