import type { FetchLike } from '../../src/http.ts'
import type { AuthEvent, Session } from '../../src/services/session.ts'
import { type AsyncKeyValue, asyncStorage, type SessionStorage } from '../../src/session-storage.ts'

export const PASSWORD = 'a long and unusual passphrase'

export interface Call {
  readonly url: string
  readonly path: string
  readonly method: string
  readonly authorization: string | undefined
  readonly status: number | 'network-error'
}

/**
 * A `fetch` that records every request (path, method, bearer, status) and can be told to fail some of them
 * as a network failure would (the request never reaches the server).
 */
export function recordingFetch() {
  const calls: Call[] = []
  const state = { failWhen: undefined as ((path: string) => boolean) | undefined }
  const f: FetchLike = async (input, init) => {
    const path = new URL(input).pathname
    const headers = (init?.headers ?? {}) as Record<string, string>
    const base = { url: input, path, method: init?.method ?? 'GET', authorization: headers.authorization }
    if (state.failWhen?.(path)) {
      calls.push({ ...base, status: 'network-error' })
      throw new TypeError('fetch failed')
    }
    const res = await fetch(input, init)
    calls.push({ ...base, status: res.status })
    return res
  }
  return {
    fetch: f,
    calls,
    /** Makes requests whose path matches fail like an unreachable server; `undefined` restores. */
    failWhen(pred: ((path: string) => boolean) | undefined) {
      state.failWhen = pred
    },
    count: (path: string) => calls.filter((c) => c.path === path).length,
    reset: () => calls.splice(0),
  }
}

/** An async key-value store (like AsyncStorage) over a Map, each call answering after a short delay. */
export function slowAsyncStore(delayMs = 20): {
  kv: AsyncKeyValue & { map: Map<string, string> }
  storage: SessionStorage
} {
  const map = new Map<string, string>()
  const later = <T>(v: () => T) => new Promise<T>((r) => setTimeout(() => r(v()), delayMs))
  const kv = {
    map,
    getItem: (k: string) => later(() => map.get(k) ?? null),
    setItem: (k: string, v: string) => later(() => void map.set(k, v)),
    removeItem: (k: string) => later(() => void map.delete(k)),
  }
  return { kv, storage: asyncStorage(kv) }
}

/** Collects auth events as `[event, user id or null]`. */
export function eventLog() {
  const events: [AuthEvent, string | null][] = []
  return {
    events,
    listener: (e: AuthEvent, s: Session | null) => void events.push([e, s?.user.id ?? null]),
    names: () => events.map(([e]) => e),
  }
}

/** Resolves once `pred` holds (polling), or fails after `ms`. */
export async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
