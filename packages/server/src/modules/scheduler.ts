import type { Logger } from 'pino'

/** Periodic work of a module: pruning, reconciling, heartbeats. */
export interface Job {
  /** Unique within its module; logged as `<module>/<name>`. */
  readonly name: string
  readonly everyMs: number
  /** The first run, in ms after start. Default: `everyMs`. */
  readonly firstAfterMs?: number
  /**
   * The work. A run that is still going when the next is due makes that one skip (no pile-up on a slow
   * database). A failure is logged and the job keeps its schedule.
   */
  run(): Promise<void>
}

export interface Scheduler {
  add(module: string, job: Job): void
  /** Runs a job now (tests, CLI), with the same no-overlap rule; resolves when it has finished. */
  runNow(module: string, name: string): Promise<void>
  /**
   * Stops every timer, then waits for runs in progress, module by module in the reverse order of `add`
   * (a module's jobs stop before the modules it depends on close).
   */
  close(): Promise<void>
}

export interface SchedulerOptions {
  /**
   * false: jobs are registered but never run on their own, only by `runNow` (a one-off CLI process beside a
   * running server must not prune, reconcile or heartbeat as if it were a node). Default true.
   */
  readonly timers?: boolean
}

/** One place for every module's timers: unref'd (they never hold the process open), never overlapping. */
export function createScheduler(log: Logger, o: SchedulerOptions = {}): Scheduler {
  const timers = o.timers ?? true
  const entries: {
    module: string
    job: Job
    timer: NodeJS.Timeout | undefined
    running: Promise<void> | undefined
  }[] = []
  let closed = false

  function start(e: (typeof entries)[number]): Promise<void> {
    if (e.running) return e.running
    e.running = e.job
      .run()
      .catch((err) =>
        log.warn({ job: `${e.module}/${e.job.name}`, err: (err as Error).message }, 'job failed'),
      )
      .finally(() => {
        e.running = undefined
      })
    return e.running
  }

  return {
    add(module, job) {
      if (closed) throw new Error('The scheduler is closed.')
      if (entries.some((e) => e.module === module && e.job.name === job.name))
        throw new Error(`Job ${module}/${job.name} is scheduled twice.`)
      const e: (typeof entries)[number] = { module, job, timer: undefined, running: undefined }
      entries.push(e)
      if (!timers) return
      const every = () => {
        e.timer = setInterval(() => void start(e), job.everyMs)
        e.timer.unref()
      }
      if (job.firstAfterMs === undefined || job.firstAfterMs === job.everyMs) every()
      else {
        e.timer = setTimeout(() => {
          if (closed) return
          every()
          void start(e)
        }, job.firstAfterMs)
        e.timer.unref()
      }
    },
    runNow(module, name) {
      const e = entries.find((x) => x.module === module && x.job.name === name)
      if (!e) return Promise.reject(new Error(`No job ${module}/${name}.`))
      return start(e)
    },
    async close() {
      closed = true
      for (const e of entries) {
        clearTimeout(e.timer)
        clearInterval(e.timer)
      }
      for (const e of [...entries].reverse()) await e.running
    },
  }
}
