export { createRateLimiter } from './create-rate-limiter.js'
export type { RateDecision, RateLimiter, RateLimiterOptions } from './create-rate-limiter.js'
export { rateLimited } from './rate-limited.js'
