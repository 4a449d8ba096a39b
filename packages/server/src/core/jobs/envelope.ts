/**
 * What a job's `data` column holds: the sender's data and where the job was first sent. pg-boss copies only
 * `data` into the dead-letter queue, so the origin travels inside it: a replay goes back to that queue under
 * that id (ctx.job.id stays the same across retries, dead letters and replays).
 */
export interface Envelope {
  readonly data: unknown
  readonly origin: { readonly queue: string; readonly id: string }
}

export function wrap(queue: string, id: string, data: unknown): Envelope {
  return { data: data === undefined ? null : data, origin: { queue, id } }
}

/** The envelope of a stored job; a job sent by something else than this service is its own data. */
export function unwrap(raw: unknown): { data: unknown; origin: Envelope['origin'] | undefined } {
  if (raw !== null && typeof raw === 'object' && 'origin' in raw && 'data' in raw) {
    const o = (raw as { origin: unknown }).origin as Record<string, unknown> | null
    if (o && typeof o.queue === 'string' && typeof o.id === 'string')
      return { data: (raw as Envelope).data, origin: { queue: o.queue, id: o.id } }
  }
  return { data: raw, origin: undefined }
}
