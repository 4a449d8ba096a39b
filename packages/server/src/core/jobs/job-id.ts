import { createHash } from 'node:crypto'

/**
 * A UUID derived from `parts` (name-based, version 5 layout over SHA-1): the same parts give the same id on
 * every node, so a job sent twice under it (a cron slot ticked by two nodes, a record change enqueued by a
 * retried write) is inserted once.
 */
export function jobIdFrom(...parts: readonly string[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest()
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`
}
