import { resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { AUDIT_EVENT_LINES } from '../../src/cli/audit-event-lines.js'
import { describeAuditEvent } from '../../src/cli/commands/audit.js'
import type { AuditEvent } from '../../src/audit/types.js'

/**
 * Every event type the code can emit, read by the type checker: `AuditEventType`, the union of the
 * `type` of every shape the audit log's `append` accepts (nothing else can be appended).
 */
function emittableEventTypes(): string[] {
  const file = resolve(import.meta.dirname, '../../src/audit/types.ts')
  // Without the standard library: the union is of string literals, nothing more is needed.
  const program = ts.createProgram([file], { strict: true, noEmit: true, noLib: true, types: [] })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(file)!
  const alias = source.statements.find(
    (s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'AuditEventType',
  )!
  const type = checker.getTypeAtLocation(alias.name)
  const members = type.isUnion() ? type.types : [type]
  return members.map((m) => (m as ts.StringLiteralType).value).sort()
}

describe('audit event lines (each domain describes its own events)', () => {
  it('has a description for every event type the code can emit, and for nothing else', () => {
    const emittable = emittableEventTypes()
    expect(emittable.length).toBeGreaterThan(20)
    expect(emittable).toContain('grant.issued')
    expect(Object.keys(AUDIT_EVENT_LINES).sort()).toEqual(emittable)
  })

  it('describes an event through its domain, and an unknown type by its fields', () => {
    const chain = { seq: 1, time: '2026-01-01T00:00:00.000Z', prev: '0'.repeat(64), hash: '1'.repeat(64) }
    const locked = { type: 'lock.removed', actor: 'admin', target_kind: 'client', target: 'agent-a', lock: 'L1', reason: 'done' }
    expect(describeAuditEvent({ ...locked, ...chain } as AuditEvent)).toBe(
      'client agent-a unlocked by admin (lock L1: done)',
    )
    const future = { type: 'future.event', actor: 'system', what: 'x' }
    expect(describeAuditEvent({ ...future, ...chain } as unknown as AuditEvent)).toBe(
      '{"actor":"system","what":"x"}',
    )
  })
})
