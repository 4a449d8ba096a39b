/** A write the server acknowledged (201 with the record) or one that failed, by its unique label. */
export interface Written {
  readonly label: string
  readonly id: string
  /** The node that answered, as the proxy tells (`servedBy` header), when it does. */
  readonly node: string | null
}

export interface RecordWriter {
  /** Writes answered 201, in the order they were answered. */
  readonly acked: readonly Written[]
  /** Writes that got no 201 (an error status, a cut connection): they may or may not have committed. */
  readonly failed: readonly { readonly label: string; readonly error: string }[]
  /** Stops after the write in flight; resolves once it is answered. */
  stop(): Promise<void>
}

/**
 * Creates records in `collection` through `base`, one at a time (each after the previous one was answered,
 * so that commits are ordered), labelled `w-<n>`, until stopped; paced a little so that a loaded machine
 * keeps some room for the rest of the test.
 */
export function startRecordWriter(o: {
  base: string
  headers: Record<string, string>
  collection: string
  /** A response header naming the node that answered. */
  servedBy?: string
  pauseMs?: number
}): RecordWriter {
  const acked: Written[] = []
  const failed: { label: string; error: string }[] = []
  let stopping = false
  const loop = (async () => {
    for (let n = 0; !stopping; n++) {
      const label = `w-${n}`
      try {
        const r = await fetch(`${o.base}/api/collections/${o.collection}/records`, {
          method: 'POST',
          headers: { ...o.headers, 'content-type': 'application/json' },
          body: JSON.stringify({ label }),
          signal: AbortSignal.timeout(15_000),
        })
        const body = (await r.json().catch(() => undefined)) as { id?: string } | undefined
        const node = o.servedBy ? r.headers.get(o.servedBy) : null
        if (r.status === 201 && typeof body?.id === 'string') acked.push({ label, id: body.id, node })
        else failed.push({ label, error: `${r.status} ${JSON.stringify(body)}` })
      } catch (err) {
        failed.push({ label, error: (err as Error).message })
      }
      await new Promise((r) => setTimeout(r, o.pauseMs ?? 10))
    }
  })()
  return {
    acked,
    failed,
    async stop() {
      stopping = true
      await loop
    },
  }
}
