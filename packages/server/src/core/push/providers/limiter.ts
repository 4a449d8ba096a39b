/** Runs at most `concurrency` tasks at once; the others wait in FIFO order. Shared by every `send` of a sender. */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>
}

/** A counting semaphore. */
export function createLimiter(concurrency: number): Limiter {
  const max = Math.max(1, Math.floor(concurrency))
  let active = 0
  const waiting: (() => void)[] = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else active--
  }
  return {
    async run(task) {
      if (active < max) active++
      // The slot is handed over by release(): `active` stays the same.
      else await new Promise<void>((resolve) => waiting.push(resolve))
      try {
        return await task()
      } finally {
        release()
      }
    },
  }
}

/** A limiter per key (an endpoint's host): at most `concurrency` tasks of one key at once, any number of keys. */
export interface KeyedLimiter {
  run<T>(key: string, task: () => Promise<T>): Promise<T>
}

/**
 * One createLimiter per key in use; a key's limiter goes away when its last task ends (no growth with keys seen).
 * `concurrency` may depend on the key.
 */
export function createKeyedLimiter(concurrency: number | ((key: string) => number)): KeyedLimiter {
  const byKey = new Map<string, { limiter: Limiter; users: number }>()
  const limitOf = typeof concurrency === 'number' ? () => concurrency : concurrency
  return {
    async run(key, task) {
      let entry = byKey.get(key)
      if (!entry) byKey.set(key, (entry = { limiter: createLimiter(limitOf(key)), users: 0 }))
      entry.users++
      try {
        return await entry.limiter.run(task)
      } finally {
        if (--entry.users === 0) byKey.delete(key)
      }
    },
  }
}
