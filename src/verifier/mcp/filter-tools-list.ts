import type { AccessTokenClaims } from '../types.js'
import { allowsMcpCall } from './authorize-mcp.js'
import { writClaimsOf } from './mcp-auth-info.js'

/**
 * The tools of a `tools/list` result that the token may call at `resource` (`tools/call` on the
 * tool's name, by the token's `mcp` grants), so an agent is never shown a tool it cannot use.
 * Without claims, no tool.
 *
 * @example
 * ```ts
 * const visible = filterToolsList(claims, allTools, 'https://mcp.example.com/mcp')
 * ```
 */
export function filterToolsList<T extends { name: string }>(
  claims: AccessTokenClaims | undefined,
  tools: readonly T[],
  resource: string,
): T[] {
  if (claims === undefined) return []
  return tools.filter(
    (tool) =>
      typeof tool?.name === 'string' &&
      allowsMcpCall(claims, { method: 'tools/call', target: tool.name }, resource),
  )
}

/**
 * The transport side of an MCP SDK server, typed structurally (the SDK's server transports, such
 * as `StreamableHTTPServerTransport`, have this shape): messages in through `onmessage` with the
 * request's `authInfo`, answers out through `send`.
 *
 * @example
 * ```ts
 * const transport: McpServerTransportLike = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
 * ```
 */
export interface McpServerTransportLike {
  onmessage?(message: never, extra?: { authInfo?: unknown }): void
  send(message: never, options?: never): Promise<void>
}

type Message = { id?: unknown; method?: unknown; result?: { tools?: unknown }; error?: unknown }

/**
 * Filters every `tools/list` answer an MCP SDK server sends through `transport` to the tools the
 * token of that request may call (see {@link filterToolsList}), whatever server framework built
 * the list. Call it after `server.connect(transport)`. A `tools/list` request that came without
 * writ claims is answered with no tools, and so is any other answer listing tools.
 *
 * @throws TypeError when the transport is not connected yet (no `onmessage`).
 *
 * @example
 * ```ts
 * await server.connect(transport)
 * guardToolsList(transport, { resource: 'https://mcp.example.com/mcp' })
 * await transport.handleRequest(req, res, req.body)
 * ```
 */
export function guardToolsList(
  transport: McpServerTransportLike,
  options: { resource: string },
): void {
  const receive = transport.onmessage?.bind(transport) as
    | ((message: Message, extra?: { authInfo?: unknown }) => void)
    | undefined
  const send = transport.send.bind(transport) as (
    message: Message,
    options?: unknown,
  ) => Promise<void>
  if (receive === undefined) {
    throw new TypeError('guardToolsList: connect the server to the transport first')
  }
  // The claims of each tools/list request still unanswered, by JSON-RPC id.
  const pending = new Map<unknown, AccessTokenClaims | undefined>()
  const wrapped = transport as unknown as {
    onmessage: (message: Message, extra?: { authInfo?: unknown }) => void
    send: (message: Message, options?: unknown) => Promise<void>
  }
  wrapped.onmessage = (message, extra) => {
    if (message?.method === 'tools/list' && message.id !== undefined) {
      pending.set(message.id, writClaimsOf(extra?.authInfo))
    }
    receive(message, extra)
  }
  wrapped.send = (message, sendOptions) => {
    const id = message?.id
    const tools = message?.method === undefined ? message?.result?.tools : undefined
    // Ensure every answer listing tools shows only what the token of its request may call: any
    // answer with `result.tools`, whichever request it claims to answer (an id the client reused
    // for another call cannot carry the full list out), and none for an id no tools/list had.
    if (Array.isArray(tools)) {
      const claims = pending.get(id)
      pending.delete(id)
      const visible = filterToolsList(claims, tools, options.resource)
      return send({ ...message, result: { ...message.result, tools: visible } }, sendOptions)
    }
    if (id !== undefined && message?.method === undefined && 'error' in (message ?? {})) {
      pending.delete(id)
    }
    return send(message, sendOptions)
  }
}
