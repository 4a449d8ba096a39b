import type {
  ApnsCredentialsInput,
  FcmCredentialsInput,
  PushCredentialProvider,
  PushCredentialsStatus,
  PushDeliveryPage,
  PushDeliveryStatus,
  PushDevice,
  PushMessage,
  PushMessageInput,
  PushMessagePage,
  PushMessageStatus,
  PushTopic,
  PushTopicInput,
  WebPushCredentialsInput,
} from '@bastide/protocol'
import type { BastideClient } from '@bastide/sdk'

export type {
  PushCredentialsStatus,
  PushDelivery,
  PushDevice,
  PushMessage,
  PushMessageInput,
  PushTopic,
} from '@bastide/protocol'

export interface PushDevicePage {
  readonly items: readonly PushDevice[]
  readonly nextCursor: string | null
}

/** The body `PUT /api/admin/push/credentials/:provider` takes, per provider. */
export interface CredentialsInputs {
  apns: ApnsCredentialsInput
  fcm: FcmCredentialsInput
  webpush: WebPushCredentialsInput
}

interface Paging {
  readonly cursor?: string | undefined
  readonly limit?: number | undefined
  readonly signal?: AbortSignal | undefined
}

const enc = encodeURIComponent

/**
 * The push endpoints the console calls (docs/push.md), through the SDK's HTTP layer so that they carry the
 * admin's session and answer errors as BastideError like every other console call. The SDK has no push service
 * of its own for the admin side: these are the console's.
 */
export function pushApi(client: BastideClient) {
  const http = client.http
  return {
    credentials: {
      status: (o: { signal?: AbortSignal } = {}) =>
        http.request<PushCredentialsStatus>('/api/admin/push/credentials', { signal: o.signal }),
      set: <P extends PushCredentialProvider>(provider: P, input: CredentialsInputs[P]) =>
        http.request<PushCredentialsStatus>(`/api/admin/push/credentials/${provider}`, {
          method: 'PUT',
          body: input,
        }),
      remove: (provider: PushCredentialProvider) =>
        http.request<PushCredentialsStatus>(`/api/admin/push/credentials/${provider}`, { method: 'DELETE' }),
    },
    devices: {
      list: (q: Paging & { user?: string | undefined }) =>
        http.request<PushDevicePage>('/api/admin/push/devices', {
          query: { user: q.user || undefined, cursor: q.cursor, limit: q.limit },
          signal: q.signal,
        }),
      revoke: (id: string) => http.request<void>(`/api/admin/push/devices/${enc(id)}`, { method: 'DELETE' }),
    },
    topics: {
      list: async (o: { signal?: AbortSignal } = {}): Promise<readonly PushTopic[]> => {
        const r = await http.request<{ items: PushTopic[] } | PushTopic[]>('/api/admin/push/topics', {
          signal: o.signal,
        })
        return Array.isArray(r) ? r : r.items
      },
      create: (input: PushTopicInput) =>
        http.request<PushTopic>('/api/admin/push/topics', { method: 'POST', body: input }),
      update: (name: string, input: Pick<PushTopicInput, 'description' | 'subscribeRule'>) =>
        http.request<PushTopic>(`/api/admin/push/topics/${enc(name)}`, { method: 'PATCH', body: input }),
      remove: (name: string) =>
        http.request<void>(`/api/admin/push/topics/${enc(name)}`, { method: 'DELETE' }),
    },
    messages: {
      // Not retried: a send that timed out may have been queued, and a second POST would notify twice.
      send: (input: PushMessageInput) =>
        http.request<PushMessage>('/api/push/messages', { method: 'POST', body: input, retry: false }),
      list: (q: Paging & { status?: PushMessageStatus | undefined }) =>
        http.request<PushMessagePage>('/api/push/messages', {
          query: { cursor: q.cursor, limit: q.limit, status: q.status },
          signal: q.signal,
        }),
      get: (id: string, o: { signal?: AbortSignal } = {}) =>
        http.request<PushMessage>(`/api/push/messages/${enc(id)}`, { signal: o.signal }),
      deliveries: (id: string, q: Paging & { status?: PushDeliveryStatus | undefined }) =>
        http.request<PushDeliveryPage>(`/api/push/messages/${enc(id)}/deliveries`, {
          query: { cursor: q.cursor, limit: q.limit, status: q.status },
          signal: q.signal,
        }),
      cancel: (id: string) =>
        http.request<PushMessage>(`/api/push/messages/${enc(id)}`, { method: 'DELETE' }),
    },
  }
}

export type PushApi = ReturnType<typeof pushApi>

export const pushKey = ['push'] as const
