import { VerifierError } from '../verifier-error.js'

/**
 * The MCP methods a writ `mcp` grant names in its `actions`, each authorized per target: the tool
 * name (`tools/call`), the resource URI (`resources/read`) or the prompt name (`prompts/get`).
 *
 * @example
 * ```ts
 * const action: McpAction = 'tools/call'
 * ```
 */
export type McpAction = 'tools/call' | 'resources/read' | 'prompts/get'

/** The authorized methods, in the order the docs list them. */
export const MCP_ACTIONS: readonly McpAction[] = ['tools/call', 'resources/read', 'prompts/get']

/**
 * One message of an MCP request, as the authorization check sees it: `call` (an action on a
 * target: a tool, resource or prompt), `open` (a method any holder of an `mcp` grant for this
 * server may use: `initialize`, `ping`, the lists, notifications, answers to the server's own
 * requests), or `other` (any other method: refused).
 *
 * @example
 * ```ts
 * const call: McpCall = { kind: 'call', method: 'tools/call', target: 'deploy_prod', id: 7 }
 * ```
 */
export type McpCall =
  | { kind: 'call'; method: McpAction; target: string; id?: string | number }
  | { kind: 'open'; method: string; id?: string | number }
  | { kind: 'other'; method: string; id?: string | number }

/** Methods that name no protected target: for any holder of an `mcp` grant for the server. */
const OPEN_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'prompts/list',
])

/** The member of `params` that names the target of each action. */
const TARGET: Record<McpAction, 'name' | 'uri'> = {
  'tools/call': 'name',
  'resources/read': 'uri',
  'prompts/get': 'name',
}

/** The limit on messages in one batch: each is authorized, so a batch is bounded work. */
const MAX_BATCH = 100

const invalid = (message: string): VerifierError => new VerifierError('invalid_request', message)

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Why a `resources/read` URI could name another resource than the one authorized, or undefined.
 * The MCP SDK looks resources up by `new URL(uri).toString()`, which resolves dot segments written
 * as `%2e%2e`, with a tab inside or behind backslashes, so a glob like `https://x/public/**` would
 * pass `https://x/public/%2e%2e/secret` while the server reads `https://x/secret`. Only a URI
 * already in the form a URL parser writes it is authorized, so both read the same string; an
 * encoded `/` or `\\` is refused too, for servers that decode the path before using it.
 */
function resourceUriProblem(uri: string): string | undefined {
  if (/%(2f|5c)/i.test(uri)) return 'must not contain an encoded / or \\ (%2F, %5C)'
  // Plain `.` and `..` segments are refused by the grant check itself (403).
  if (uri.split('/').some((segment) => segment === '.' || segment === '..')) return undefined
  let parsed: URL
  try {
    parsed = new URL(uri)
  } catch {
    // Not a URL to a URL parser: servers see the string as it is, which is what was authorized.
    return undefined
  }
  if (parsed.href !== uri) {
    return `must be written as a URL parser writes it (${JSON.stringify(parsed.href.slice(0, 200))}), so the server reads the resource that was authorized`
  }
  return undefined
}

/** One JSON-RPC message (the `index`th of a batch, for messages). */
function readMessage(message: unknown, where: string): McpCall {
  if (!isRecord(message)) throw invalid(`${where} must be a JSON-RPC message (an object)`)
  const id =
    typeof message.id === 'string' || typeof message.id === 'number' ? message.id : undefined
  const idPart = id === undefined ? {} : { id }
  const method = message.method
  if (method === undefined) {
    // A response to a request of the server's (sampling, elicitation, roots): no call of its own.
    if ('result' in message || 'error' in message) {
      return { kind: 'open', method: 'response', ...idPart }
    }
    throw invalid(`${where} has no method`)
  }
  if (typeof method !== 'string') throw invalid(`${where}.method must be a string`)
  // Own members only: `constructor` or `__proto__` is no MCP action.
  if (Object.prototype.hasOwnProperty.call(TARGET, method)) {
    const action = method as McpAction
    const member = TARGET[action]
    const params = message.params
    const target = isRecord(params) ? params[member] : undefined
    // Ensure a call names its target: nothing is authorized against a missing tool or resource.
    if (typeof target !== 'string' || target === '') {
      throw invalid(`${where}: ${action} needs params.${member} (a non-empty string)`)
    }
    if (action === 'resources/read') {
      const problem = resourceUriProblem(target)
      if (problem !== undefined) throw invalid(`${where}: resources/read params.uri ${problem}`)
    }
    return { kind: 'call', method: action, target, ...idPart }
  }
  if (OPEN_METHODS.has(method) || method.startsWith('notifications/')) {
    return { kind: 'open', method, ...idPart }
  }
  return { kind: 'other', method, ...idPart }
}

/**
 * Reads the JSON-RPC body of an MCP request (one message, or a batch: an array) into what the
 * authorization check needs. `tools/call` is read by `params.name`, `resources/read` by
 * `params.uri`, `prompts/get` by `params.name`.
 *
 * @throws VerifierError `invalid_request` (400), naming the message and member, for a body that is
 *   not a JSON-RPC message or batch, an empty or oversized batch, or a call without its target.
 *
 * @example
 * ```ts
 * readMcpCalls({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search' } })
 * // [{ kind: 'call', method: 'tools/call', target: 'search', id: 1 }]
 * ```
 */
export function readMcpCalls(body: unknown): McpCall[] {
  if (Array.isArray(body)) {
    if (body.length === 0) throw invalid('the JSON-RPC batch is empty')
    if (body.length > MAX_BATCH) {
      throw invalid(`a JSON-RPC batch may hold at most ${MAX_BATCH} messages`)
    }
    return body.map((message, index) => readMessage(message, `message ${index} of the batch`))
  }
  return [readMessage(body, 'the JSON-RPC message')]
}
