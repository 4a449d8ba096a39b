import type { JobInfo, JobPage, JobQueueStats, JobState } from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type { JobInfo, JobPage, JobQueueStats, JobState }

const path = (queue: string, id = '', rest = '') =>
  `/api/admin/jobs/${encodeURIComponent(queue)}${id ? `/${encodeURIComponent(id)}` : ''}${rest}`

/**
 * The durable job queue (function events, webhooks, cron schedules): console admins and keys with the
 * `functions` scope. Jobs out of retries land in `<queue>.dead`; `replay` sends one back.
 */
export class AdminJobs {
  constructor(private readonly http: Http) {}

  /**
   * Every queue with its jobs counted by state.
   *
   * @example
   * const queues = await client.admin.jobs.queues()
   * const stuck = queues.filter((q) => q.name.endsWith('.dead') && q.queued > 0)
   */
  async queues(opts: { signal?: AbortSignal } = {}): Promise<JobQueueStats[]> {
    const r = await this.http.request<{ queues: JobQueueStats[] }>('/api/admin/jobs', { signal: opts.signal })
    return r.queues
  }

  /**
   * One page of a queue's jobs, newest first (finished ones stay listed for the retention period); pass
   * `nextCursor` back as `cursor` for the next page.
   *
   * @example
   * const { items, nextCursor } = await client.admin.jobs.list('functions.thumbnail', { state: 'failed' })
   */
  list(
    queue: string,
    opts: { state?: JobState; cursor?: string; limit?: number; signal?: AbortSignal } = {},
  ): Promise<JobPage> {
    const { signal, ...query } = opts
    return this.http.request(path(queue), { query: { ...query }, signal })
  }

  /**
   * One job, with its data, attempts and last error.
   *
   * @example
   * const job = await client.admin.jobs.get('functions.thumbnail', id)
   */
  get(queue: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<JobInfo> {
    return this.http.request(path(queue, id), { signal: opts.signal })
  }

  /**
   * Sends a failed or dead-lettered job back to the queue it was first sent to, as a fresh delivery (attempts
   * start again) under its original id; resolves with the new delivery. 409 for a job that did not fail.
   *
   * @example
   * const dead = await client.admin.jobs.list('functions.thumbnail.dead')
   * for (const job of dead.items) await client.admin.jobs.replay('functions.thumbnail.dead', job.id)
   */
  replay(queue: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<JobInfo> {
    return this.http.request(path(queue, id, '/replay'), {
      method: 'POST',
      signal: opts.signal,
      retry: false,
    })
  }

  /**
   * Deletes a job (a dead letter that will never be replayed, a job sent by mistake).
   *
   * @example
   * await client.admin.jobs.remove('functions.thumbnail.dead', id)
   */
  async remove(queue: string, id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.http.request(path(queue, id), { method: 'DELETE', signal: opts.signal })
  }
}
