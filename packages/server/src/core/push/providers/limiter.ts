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
