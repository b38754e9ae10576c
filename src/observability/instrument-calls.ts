import { type Span, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import type { BrokerMetrics } from './broker-metrics.js'

export interface InstrumentOptions {
  /** Label and span-name prefix: `grants`, `approvals`, `locks`. */
  component: string
  /** Times every call into `writ_store_command_duration_seconds`, counts failures. */
  metrics?: Pick<BrokerMetrics, 'storeCommandSeconds' | 'storeCommandErrors'> | undefined
  /** A child span per call (`grants.createGrant`), attributes: the component and operation only. */
  tracer?: Tracer | undefined
  /** Properties holding another store to instrument the same way, by its component name. */
  nested?: Readonly<Record<string, string>>
}

/** Methods that are not commands: lifecycle and capability checks. */
const NOT_COMMANDS = new Set(['close', 'takesAuditIntake', 'constructor'])

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'

/**
 * Wraps a store (any object of async methods) so that every method call is timed, counted when it
 * fails, and traced as a child span of whatever span is active — without the store knowing. The
 * composition root wraps each store once; every consumer then sees the instrumented one. Arguments
 * and results are never recorded (they hold grant records, challenges, key sets).
 */
export function instrumentCalls<T extends object>(target: T, options: InstrumentOptions): T {
  const { component, metrics, tracer } = options
  if (!metrics && !tracer) return target
  const wrapped = new Map<PropertyKey, unknown>()

  const wrap = (name: string, method: (...args: unknown[]) => unknown) => {
    // The labelled children, bound once per method (prom-client still checks the labels per call).
    const seconds = metrics?.storeCommandSeconds.labels(component, name)
    const errors = metrics?.storeCommandErrors.labels(component, name)
    return function instrumented(this: unknown, ...args: unknown[]): unknown {
      const started = performance.now()
      const finish = (span: Span | undefined, err?: unknown): void => {
        seconds?.observe((performance.now() - started) / 1000)
        if (err !== undefined) {
          errors?.inc()
          span?.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' })
        }
        span?.end()
      }
      const run = (span?: Span): unknown => {
        let result: unknown
        try {
          result = method.apply(target, args)
        } catch (err) {
          finish(span, err)
          throw err
        }
        if (!isThenable(result)) {
          finish(span)
          return result
        }
        return result.then(
          (value) => (finish(span), value),
          (err: unknown) => {
            finish(span, err)
            throw err
          },
        )
      }
      // A child of the active span; not made active itself (nothing runs beneath a store call),
      // which spares a context switch per call.
      return run(tracer?.startSpan(`${component}.${name}`, { attributes: { 'writ.store': component, 'writ.store.command': name } }))
    }
  }

  return new Proxy(target, {
    get(obj, key, receiver) {
      const value: unknown = Reflect.get(obj, key, receiver)
      if (typeof key !== 'string') return value
      const nestedComponent = options.nested?.[key]
      if (nestedComponent && typeof value === 'object' && value !== null) {
        if (!wrapped.has(key)) wrapped.set(key, instrumentCalls(value, { component: nestedComponent, metrics, tracer }))
        return wrapped.get(key)
      }
      if (typeof value !== 'function' || NOT_COMMANDS.has(key)) return value
      if (!wrapped.has(key)) wrapped.set(key, wrap(key, value as (...args: unknown[]) => unknown))
      return wrapped.get(key)
    },
  })
}
