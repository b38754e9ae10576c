import { z } from 'zod'
import { invalidRequest } from '../errors.js'
import { formatIssues, friendlyErrors } from '../validation.js'
import { findJsonProblems } from './json-problems.js'
import { joinProblems } from './join-problems.js'
import { durationSchema, taskSchema } from './schema.js'
import type { TaskInfo } from './types.js'

const headSchema = z.strictObject({ task: taskSchema, ttl: durationSchema.optional() })

/**
 * Validates the non-grant part of a manifest, `{ task, ttl? }`, for callers that received the
 * grants separately and validated them already (the OAuth token endpoint's
 * `authorization_details`). Same rules and messages as {@link parseManifestObject}.
 *
 * @throws WritError `invalid_request` (400) listing every problem, each naming its field.
 */
export function parseTask(value: { task: unknown; ttl?: unknown }): { task: TaskInfo; ttlSeconds?: number } {
  // Ensure plain JSON data without prototype-reaching names before zod copies it.
  const problems = findJsonProblems(value)
  const result = headSchema.safeParse(value, { error: friendlyErrors })
  if (!result.success) problems.push(...formatIssues(result.error.issues))
  if (problems.length > 0 || !result.success) throw invalidRequest(joinProblems(problems, 'manifest: invalid'))
  const { task, ttl } = result.data
  return ttl === undefined ? { task: task as TaskInfo } : { task: task as TaskInfo, ttlSeconds: ttl }
}
