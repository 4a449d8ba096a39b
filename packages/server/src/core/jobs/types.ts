import type { JobInfo, JobPage, JobQueueStats, JobState } from '@bastide/protocol'
import type { Tx } from '../../db/transaction.ts'

export interface QueueOptions {
  /** Retries after the first attempt (so `retryLimit + 1` attempts in all). Default 3. */
  readonly retryLimit?: number
  /** Seconds before the first retry. Default 2. */
  readonly retryDelaySeconds?: number
  /** Exponential backoff: the delay doubles at each retry (with jitter). Default true. */
  readonly retryBackoff?: boolean
  /** An active job older than this is failed and retried (a node died, or the handler hangs). Default 900. */
  readonly expireInSeconds?: number
  /** The queue receiving jobs out of retries. Default `<queue>.dead` (created). */
  readonly deadLetter?: string
}

export interface WorkOptions extends QueueOptions {
  /** Jobs of this queue run at once on this node. Default BASTIDE_JOBS_CONCURRENCY. */
  readonly concurrency?: number
}

export interface JobContext<T> {
  /**
   * The job's id as first sent: stable across retries and replays (a replay runs under the same id), so it
   * is the idempotency key of whatever the handler does.
   */
  readonly id: string
  readonly queue: string
  readonly data: T
  /** 1 for the first delivery, 2 for the first retry... (a replay starts again at 1). */
  readonly attempt: number
  readonly retryLimit: number
}

export interface SendOptions {
  /** Enqueue inside this transaction: the job exists if and only if it commits. */
  readonly tx?: Tx
  /** At most one job per (queue, key) is kept: a second send with the key is a no-op (see docs/jobs.md). */
  readonly singletonKey?: string
  /** A deterministic id: a second send with it is a no-op while the first job is kept. */
  readonly id?: string
  readonly startAfter?: Date
  readonly retryLimit?: number
}

export interface ListJobsQuery {
  readonly state?: JobState
  readonly cursor?: string
  readonly limit?: number
}

export interface Jobs {
  /** Declares (idempotently) a queue and runs `handler` for its jobs on this node (not when jobs are off). */
  work<T>(queue: string, o: WorkOptions, handler: (job: JobContext<T>) => Promise<void>): Promise<void>
  /** Stops this node's workers of `queue` (jobs in progress finish); the queue and its jobs stay. */
  stopWork(queue: string): Promise<void>
  /** Enqueues a job; resolves with its id, or null when a job with that id (or singleton key) exists. */
  send<T>(queue: string, data: T, o?: SendOptions): Promise<string | null>
  /**
   * Sends `{ schedule: cron, at: slotIso }` to queue `name` once per cron slot (five fields, UTC) across every
   * node: each node ticks and the slot's job id is derived from (name, slot). Stored, so every node knows it.
   */
  schedule(name: string, cron: string, o?: QueueOptions): Promise<void>
  unschedule(name: string): Promise<void>
  /** One tick of the cron schedules at `now` (every node runs one every 15 s); resolves with the jobs sent. */
  tick(now?: Date): Promise<string[]>
  stats(): Promise<JobQueueStats[]>
  list(queue: string, q?: ListJobsQuery): Promise<JobPage>
  find(queue: string, id: string): Promise<JobInfo | undefined>
  /** A failed or dead-lettered job back to its original queue, as a fresh delivery; throws NOT_FOUND/CONFLICT. */
  replay(queue: string, id: string): Promise<JobInfo>
  /** Deletes a job; false when there was none. */
  remove(queue: string, id: string): Promise<boolean>
}
