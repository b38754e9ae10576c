// Registers an OpenTelemetry trace SDK in the process it is imported into (`node --import
// ./bench/otel-sdk.js dist/main.js`), as docs/observability.md shows a service tracing writ: every
// span is recorded and handed, in batches, to an exporter that only counts them (no network in a
// benchmark). writ needs no context manager (its spans find their parent in its own request
// scope); WRIT_BENCH_CONTEXT_MANAGER=1 registers the AsyncLocalStorage one as well, which a service
// adds for other instrumentations. WRIT_BENCH_SAMPLED_OUT=1 samples every request out (the
// AlwaysOff sampler): writ's calls into an SDK that records nothing, what a sampled-out request costs.
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { AlwaysOffSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'

let exported = 0
const exporter = {
  export(spans, done) {
    exported += spans.length
    done({ code: 0 })
  },
  shutdown: async () => undefined,
}
if (process.env.WRIT_BENCH_CONTEXT_MANAGER === '1') context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
const sampledOut = process.env.WRIT_BENCH_SAMPLED_OUT === '1'
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    ...(sampledOut ? { sampler: new AlwaysOffSampler() } : {}),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  }),
)
process.on('SIGTERM', () => process.stderr.write(`otel-sdk: ${exported} spans exported\n`))
