// What every scaling curve (bench/curves.js) measures with: the issuance request, a rate over HTTP
// by autocannon, the two-round order of points, and the rows' ratios to the smallest point.
import autocannon from 'autocannon'

/**
 * Broker config of every curve: Redis commands may take 5 s before a 503, so a stall of the shared
 * machine does not end a long run (the measured rates are unaffected: no command comes near it).
 */
export const BROKER_CONFIG = { store: { commandTimeoutMs: 5000 } }

/** Connections autocannon keeps open for every HTTP point of every curve. */
export const CONNECTIONS = 16

/** The repository grant every curve asks for (`identifier` varies where grants must differ). */
export const grant = (identifier = 'docs/**') => ({
  type: 'repo',
  actions: ['read'],
  locations: ['https://git.example.com/acme/app'],
  identifier,
})

/** `Authorization` header for client secret basic. */
export const basic = (clientId, secret) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`

/** A client-credentials `POST /oauth/token` for autocannon (or fetch, with `url`). */
export function issuanceRequest(base, { clientId = 'bench-agent', secret, grants = [grant()], ttl } = {}) {
  return {
    url: `${base}/oauth/token`,
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(clientId, secret),
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-CURVES',
      authorization_details: JSON.stringify(grants),
      ...(ttl === undefined ? {} : { ttl: String(ttl) }),
    }).toString(),
  }
}

/** What went wrong in an autocannon result: errors, timeouts and the answers by status. */
const failures = (r) => `${r.errors} errors, ${r.timeouts} timeouts, answers by status ${JSON.stringify(r.statusCodeStats)}`

const cannon = (opts) =>
  new Promise((res, rej) => autocannon({ connections: CONNECTIONS, ...opts }, (err, r) => (err ? rej(err) : res(r))))

/**
 * Requests per second of `request` (autocannon options: url, method, headers, body, or
 * `requests`) over `duration` seconds, after `warmup` requests (a count, not a time: on a busy
 * machine the broker's code takes longer to be optimised, and a fixed time would leave points
 * measured after a start less warm than others); throws when any answer was not 2xx, naming `what`.
 */
export async function httpRate(request, { duration, warmup, what }) {
  const w = await cannon({ ...request, amount: warmup })
  if (w.errors + w.timeouts + w.non2xx > 0) throw new Error(`${what}, warming up: ${failures(w)}`)
  const r = await cannon({ ...request, duration })
  if (r.errors + r.timeouts + r.non2xx > 0) {
    throw new Error(`${what}: ${failures(r)}`)
  }
  return r.requests.average
}

/**
 * Measures every point twice, forward then backward, so a slow minute of the shared machine does
 * not land on one end of a curve. `measure(point, pass)` returns a number (a rate) or an object of
 * numbers and sample lists; numbers are averaged over the two passes, lists concatenated.
 */
export async function twoPasses(points, measure) {
  const results = points.map(() => [])
  for (const [pass, order] of [[0, [...points.keys()]], [1, [...points.keys()].reverse()]]) {
    for (const i of order) results[i].push(await measure(points[i], pass))
  }
  return results.map((pair, i) => {
    if (typeof pair[0] === 'number') return { point: points[i], perSecond: Math.round((pair[0] + pair[1]) / 2) }
    const merged = { point: points[i] }
    for (const key of Object.keys(pair[0])) {
      merged[key] = Array.isArray(pair[0][key]) ? [...pair[0][key], ...pair[1][key]] : (pair[0][key] + pair[1][key]) / 2
    }
    return merged
  })
}

const three = (x) => +x.toFixed(3)

/**
 * Rate rows with `ratio` (this rate / the first point's) and `cost` (its inverse: the time per
 * request relative to the first point's, what the goal of 1.2 is about).
 */
export const rateRows = (rows) =>
  rows.map((r) => ({ ...r, ratio: three(r.perSecond / rows[0].perSecond), cost: three(rows[0].perSecond / r.perSecond) }))

/** The `p` percentile (nearest rank) of ascending `sorted`. */
export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
