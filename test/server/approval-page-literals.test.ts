import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { literal } from '../../src/server/pages/literal.js'
import { A, makeApprovalBroker, requestApproval, type ApprovalBroker } from '../approvals/helpers.js'
import { seedApproverKey } from '../helpers/approver-key.js'

let broker: ApprovalBroker

beforeAll(async () => {
  broker = await makeApprovalBroker()
  await seedApproverKey(broker.approvals, 'dana@example.com', 'dbas')
  await seedApproverKey(broker.approvals, 'erin@example.com', 'dbas')
})
afterAll(() => broker?.close())

describe('the approval page shows nothing a person could misread', () => {
  it('marks look-alike characters in the task, the resources and the identifier with their code points', async () => {
    // Cyrillic о (U+043E) and В (U+0412): the policy's glob allows them; a person would read ASCII.
    const pending = await requestApproval(broker, A, {
      task: { id: 'D\u0412-7', purpose: 'Add the orders index', requested_by: 'frank@example.com' },
      grants: [{ type: 'db', actions: ['migrate'], locations: ['https://db.example.com/\u043erders'], identifier: 'tables/\u043erders' }],
    })
    const page = await (await broker.call('GET', `/approve/${pending.id}`)).text()
    expect(page).not.toContain('https://db.example.com/\u043erders')
    expect(page).toContain('<code>https://db.example.com/<mark class="uni" title="U+043E">\u043e<sup>U+043E</sup></mark>rders</code>')
    expect(page).toContain('<code>tables/<mark class="uni" title="U+043E">\u043e<sup>U+043E</sup></mark>rders</code>')
    expect(page).toContain('<code>D<mark class="uni" title="U+0412">\u0412<sup>U+0412</sup></mark>-7</code>')
    // Plain ASCII reads as it is.
    expect(page).toContain('<code>frank@example.com</code>')
    expect(page).toContain('<code>migrate</code>')
  })

  it('shows a character that displays nothing only as its code point, and escapes markup', () => {
    expect(String(literal('docs/\u200bsecret'))).toBe('<code>docs/<mark class="uni">U+200B</mark>secret</code>')
    expect(String(literal('a\u202eb'))).toBe('<code>a<mark class="uni">U+202E</mark>b</code>')
    expect(String(literal('<b>&'))).toBe('<code>&lt;b&gt;&amp;</code>')
    expect(String(literal('a b'))).toBe('<code>a b</code>')
  })
})
