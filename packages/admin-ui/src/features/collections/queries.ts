import type { BastideClient } from '@bastide/sdk'

/** Query keys shared by the collections pages (other features may invalidate ['collections'] too). */
export const collectionsKey = ['collections'] as const
export const collectionKey = (name: string) => ['collections', name] as const
export const historyKey = (name: string, cursor: string | undefined) =>
  ['collections', name, 'history', cursor ?? ''] as const

export const listCollections = (client: BastideClient) => (o: { signal: AbortSignal }) =>
  client.admin.collections.list({ signal: o.signal })
