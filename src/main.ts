#!/usr/bin/env node
/** `npm start`: the broker. The only module of the broker that reads process.env. */
import { runBroker } from './run-broker.js'

runBroker(process.env).catch((err: unknown) => {
  process.stderr.write(`writ: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
