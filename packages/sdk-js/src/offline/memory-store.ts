import { applyBatch, emptySnapshot, toSnapshot } from './snapshot.ts'
import type { OfflineStore } from './types.ts'

/**
 * A store that keeps nothing between launches: for tests, and for apps that only want optimistic writes and
 * live queries while running.
 *
 * @example
 * const offline = client.offline({ store: memoryStore(), collections: ['todos'] })
 */
export function memoryStore(): OfflineStore {
  const s = emptySnapshot()
  const files = new Map<string, Blob | Uint8Array>()
  return {
    async load() {
      return toSnapshot(s)
    },
    async write(batch) {
      // Refuses what a persistent store could not hold, so that an app tested in memory fails the same way.
      JSON.stringify(batch)
      // Records are never mutated once made (the client replaces them), so sharing them is safe.
      applyBatch(s, batch)
    },
    async close() {},
    files: {
      async put(id, data) {
        files.set(id, data)
      },
      async get(id) {
        return files.get(id)
      },
      async delete(ids) {
        for (const id of ids) files.delete(id)
      },
      async list() {
        return [...files.keys()]
      },
    },
  }
}
