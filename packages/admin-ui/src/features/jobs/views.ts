import type { JobInfo, JobQueueStats, JobState } from '@bastide/protocol'

/** What the jobs panel lists for a queue: its dead letters, or its own jobs in one state. */
export type JobsView = 'dead' | JobState

export const STATE_VIEWS: readonly { view: JobState; label: string }[] = [
  { view: 'failed', label: 'Failed' },
  { view: 'retry', label: 'Waiting to retry' },
  { view: 'created', label: 'Queued' },
  { view: 'active', label: 'Active' },
  { view: 'completed', label: 'Completed' },
  { view: 'cancelled', label: 'Cancelled' },
]

/** The queue and state to list for a view of `q`: dead letters are the dead-letter queue's jobs, any state. */
export function listTarget(q: JobQueueStats, view: JobsView): { queue: string; state?: JobState } {
  if (view === 'dead') return q.deadLetter ? { queue: q.deadLetter } : { queue: q.name, state: 'failed' }
  return { queue: q.name, state: view }
}

/** Dead-letter queues sit under the queue feeding them: a queue named by another's `deadLetter`. */
export function isDeadLetterQueue(q: JobQueueStats, all: readonly JobQueueStats[]): boolean {
  return all.some((o) => o.deadLetter === q.name)
}

/** The queues to show, dead-letter queues after the queue feeding them, by name otherwise. */
export function orderQueues(all: readonly JobQueueStats[]): JobQueueStats[] {
  const primary = all.filter((q) => !isDeadLetterQueue(q, all)).sort((a, b) => a.name.localeCompare(b.name))
  const out: JobQueueStats[] = []
  for (const q of primary) {
    out.push(q)
    const dead = q.deadLetter ? all.find((d) => d.name === q.deadLetter) : undefined
    if (dead && !out.includes(dead)) out.push(dead)
  }
  for (const q of all) if (!out.includes(q)) out.push(q)
  return out
}

/** `2 of 4`: attempts made of those allowed (the first plus retries). */
export function attemptsText(attempts: number, retryLimit: number): string {
  return `${attempts} of ${retryLimit + 1}`
}

/**
 * Attempts of a job as the page shows them. A dead letter is a new job in the dead-letter queue (never run
 * there: 0 attempts of its own) made only from a job that failed its last allowed attempt, with that job's
 * retry limit copied: it stands for `retryLimit + 1` attempts made.
 */
export function jobAttempts(
  job: Pick<JobInfo, 'attempts' | 'retryLimit' | 'state'>,
  inDeadLetterQueue: boolean,
): string {
  if (inDeadLetterQueue && job.attempts === 0 && job.state === 'created')
    return attemptsText(job.retryLimit + 1, job.retryLimit)
  return attemptsText(job.attempts, job.retryLimit)
}
