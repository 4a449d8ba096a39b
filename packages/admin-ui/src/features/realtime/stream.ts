/** One event of the change stream as the inspector shows it. */
export interface StreamEvent {
  /** Unique within the page's life (React keys). */
  readonly key: number
  readonly at: number
  readonly collection: string
  readonly action: 'create' | 'update' | 'delete' | 'resync'
  readonly id: string | null
  readonly seq: number | null
  readonly record: Record<string, unknown> | null
}

/** The stream's bound: older events drop off the end. */
export const MAX_EVENTS = 500

/** `incoming` (oldest first) put on top of `list` (newest first), keeping the newest `max`. */
export function prependBounded<T>(list: readonly T[], incoming: readonly T[], max = MAX_EVENTS): T[] {
  if (incoming.length === 0) return list as T[]
  const fresh = incoming.slice(-max).reverse()
  return [...fresh, ...list].slice(0, max)
}

/** The collections to follow: all of them, or those picked that still exist. */
export function chosenCollections(
  all: readonly string[],
  picked: readonly string[],
  everything: boolean,
): string[] {
  return everything ? [...all] : picked.filter((c) => all.includes(c))
}

/** A pattern's example channel name, to start from: `room:*` → `room:`; an exact name as is. */
export function exampleChannel(pattern: string): string {
  return pattern.endsWith('*') ? pattern.slice(0, -1) : pattern
}
