import type {
  PushCredentialProvider,
  PushDeliveryStatus,
  PushMessageInput,
  PushMessageStatus,
  PushTopic,
  PushTopicInput,
} from '@bastide/protocol'
import type { BastideClient, PushCredentialsInputs } from '@bastide/sdk'

export type {
  PushCredentialsStatus,
  PushDelivery,
  PushDevice,
  PushMessage,
  PushMessageInput,
  PushTopic,
} from '@bastide/protocol'

/** The body `PUT /api/admin/push/credentials/:provider` takes, per provider. */
export type CredentialsInputs = PushCredentialsInputs

interface Paging {
  readonly cursor?: string | undefined
  readonly limit?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * The push calls the console makes: the SDK's `client.admin.push` (docs/push.md), under the names the pages use,
 * so that they carry the admin's session and answer errors as BastideError like every other console call.
 */
export function pushApi(client: BastideClient) {
  const push = client.admin.push
  return {
    credentials: {
      status: (o: { signal?: AbortSignal } = {}) => push.credentials.get(o),
      set: <P extends PushCredentialProvider>(provider: P, input: CredentialsInputs[P]) =>
        push.credentials.set(provider, input),
      remove: (provider: PushCredentialProvider) => push.credentials.remove(provider),
    },
    devices: {
      list: (q: Paging & { user?: string | undefined }) =>
        push.devices.list({ ...q, user: q.user || undefined }),
      revoke: (id: string) => push.devices.remove(id),
    },
    topics: {
      list: (o: { signal?: AbortSignal } = {}): Promise<readonly PushTopic[]> => push.topics.list(o),
      create: (input: PushTopicInput) => push.topics.create(input),
      update: (name: string, input: Pick<PushTopicInput, 'description' | 'subscribeRule'>) =>
        push.topics.update(name, input),
      remove: (name: string) => push.topics.remove(name),
    },
    messages: {
      // Not retried (the SDK's send): a send that timed out may have been queued, and a second POST would notify twice.
      send: (input: PushMessageInput) => push.send(input),
      list: (q: Paging & { status?: PushMessageStatus | undefined }) => push.messages.list(q),
      get: (id: string, o: { signal?: AbortSignal } = {}) => push.messages.get(id, o),
      deliveries: (id: string, q: Paging & { status?: PushDeliveryStatus | undefined }) =>
        push.messages.deliveries(id, q),
      cancel: (id: string) => push.messages.cancel(id),
    },
  }
}

export type PushApi = ReturnType<typeof pushApi>

export const pushKey = ['push'] as const
