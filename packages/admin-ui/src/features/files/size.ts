/** File sizes as people type them into a bucket's limit: `5 MB`, `512k`, `1.5 GiB`, `1048576`. */

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
}

/**
 * Bytes from a size (binary units, as the console shows them); `null` for an empty text (no limit of the
 * bucket's own), `undefined` when it is not a size.
 */
export function parseSize(text: string): number | null | undefined {
  const s = text.trim().toLowerCase()
  if (s === '') return null
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(s)
  if (!m) return undefined
  const unit = UNITS[m[2] || 'b']
  if (unit === undefined) return undefined
  const n = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** The shortest exact text for a byte count that `parseSize` reads back: 5242880 → `5 MB`, 1000 → `1000 B`. */
export function sizeText(bytes: number): string {
  for (const [unit, n] of [
    ['TB', 1024 ** 4],
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n} ${unit}`
  }
  return `${bytes} B`
}

/** Percent done, 0–100, for a progress bar (0 while the total is unknown). */
export function percent(loaded: number, total: number | undefined): number {
  if (!total) return loaded > 0 ? 100 : 0
  return Math.max(0, Math.min(100, Math.round((loaded / total) * 100)))
}
