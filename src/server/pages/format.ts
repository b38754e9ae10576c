/** `2026-01-01 00:05:00 UTC` */
export function utc(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
}

/** `4 min 10 s`, `1 h 5 min`, `45 s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`
  if (m > 0) return rest > 0 ? `${m} min ${rest} s` : `${m} min`
  return `${rest} s`
}
