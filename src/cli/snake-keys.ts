/** `maxTtlSeconds` → `max_ttl_seconds`; a name already in snake_case stays as it is. */
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/**
 * A result the CLI computes itself (not one the API returned), with every object key in the API's
 * snake_case, so `--json` reads the same whatever produced it. Only for values whose keys are all
 * the CLI's own names: grants' `authorization_details` keep their members as written, so never
 * pass one through here.
 */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeKeys(v)]))
}
