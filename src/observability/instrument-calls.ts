import { type Context, type Span, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import type { BrokerMetrics } from './broker-metrics.js'

export interface InstrumentOptions {
  /** Label and span-name prefix: `grants`, `approvals`, `locks`. */
  component: string
  /** Times every call into `writ_store_command_duration_seconds`, counts failures. */
  metrics?: Pick<BrokerMetrics, 'storeCommandSeconds' | 'storeCommandErrors'> | undefined
  /** A child span per call (`grants.createGrant`), attributes: the component and operation only. */
  tracer?: Tracer | undefined
  /** The context a call's span is started in (its parent); default: the active context. */
  parent?: (() => Context) | undefined
  /** Properties holding another store to instrument the same way, by its component name. */
  nested?: Readonly<Record<string, string>>
}

/** Methods that are not commands: lifecycle and capability checks. */
const NOT_COMMANDS = new Set(['close', 'takesAuditIntake', 'constructor'])

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'

/**
 * Wraps a store (any object of async methods) so that every method call is timed, counted when it
 * fails, and traced as a child span of `parent` — without the store knowing. The
 * composition root wraps each store once; every consumer then sees the instrumented one. Arguments
 * and results are never recorded (they hold grant records, challenges, key sets).
 */
export function instrumentCalls<T extends object>(target: T, options: InstrumentOptions): T {
  const { component, metrics, tracer, parent } = options
  if (!metrics && !tracer) return target
  const wrapped = new Map<PropertyKey, unknown>()

  const wrap = (name: string, method: (...args: unknown[]) => unknown) => {
    // Bound once per method: the children of the two metrics and the span's name and attributes.
    const seconds = metrics?.storeCommandSeconds.child({ store: component, command: name })
    const errors = metrics?.storeCommandErrors.child({ store: component, command: name })
    const spanName = `${component}.${name}`
    const spanOptions = { attributes: { 'writ.store': component, 'writ.store.command': name } }
    const finish = (started: number, span: Span | undefined, err?: unknown): void => {
      seconds?.observe((performance.now() - started) / 1000)
      if (err !== undefined) {
        errors?.inc()
        span?.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' })
      }
      span?.end()
    }
    return function instrumented(this: unknown, ...args: unknown[]): unknown {
      const started = performance.now()
      // A child of the request's span; not made active itself (nothing of writ's runs beneath a
      // store call), which spares a context switch per call.
      const span = tracer?.startSpan(spanName, spanOptions, parent?.())
      let result: unknown
      try {
        result = method.apply(target, args)
      } catch (err) {
        finish(started, span, err)
        throw err
      }
      if (!isThenable(result)) {
        finish(started, span)
        return result
      }
      return result.then(
        (value) => (finish(started, span), value),
        (err: unknown) => {
          finish(started, span, err)
          throw err
        },
      )
    }
  }

  return new Proxy(target, {
    get(obj, key, receiver) {
      const value: unknown = Reflect.get(obj, key, receiver)
      if (typeof key !== 'string') return value
      const nestedComponent = options.nested?.[key]
      if (nestedComponent && typeof value === 'object' && value !== null) {
        if (!wrapped.has(key)) wrapped.set(key, instrumentCalls(value, { component: nestedComponent, metrics, tracer, parent }))
        return wrapped.get(key)
      }
      if (typeof value !== 'function' || NOT_COMMANDS.has(key)) return value
      if (!wrapped.has(key)) wrapped.set(key, wrap(key, value as (...args: unknown[]) => unknown))
      return wrapped.get(key)
    },
  })
}
