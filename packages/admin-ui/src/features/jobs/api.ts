import type { AdminJobs, BastideClient } from '@bastide/sdk'

export type { JobInfo, JobPage, JobQueueStats, JobState } from '@bastide/sdk'

/** `client.admin.jobs`, for the console: queues with their counts, a queue's jobs, replay, delete. */
export function jobsApi(client: BastideClient): AdminJobs {
  return client.admin.jobs
}

export const jobsKey = ['jobs'] as const
