import { describe, expectTypeOf, it } from 'vitest'
import {
  createClient,
  type PushCredentialsStatus,
  type PushDevice,
  type PushMessage,
  type PushTopicState,
  registerWebPush,
} from '../src/index.ts'
import {
  handleNotificationClick,
  type PushPayload,
  parsePushPayload,
  showPushNotification,
} from '../src/push-sw.ts'

// Type tests: `vitest run` typechecks this file (vitest.config.ts: typecheck). Nothing here executes.
const client = createClient({ url: 'http://localhost:8787' })

describe('client.push', () => {
  it('registers a token without an id (the SDK keeps it), checking provider and environment', async () => {
    expectTypeOf(
      await client.push.register({ provider: 'fcm', token: 't', appId: 'a' }),
    ).toEqualTypeOf<PushDevice>()
    client.push.register({ provider: 'apns', token: 't', appId: 'a', environment: 'sandbox', locale: null })
    // @ts-expect-error: not a provider
    client.push.register({ provider: 'gcm', token: 't', appId: 'a' })
    // @ts-expect-error: appId is required
    client.push.register({ provider: 'fcm', token: 't' })
    // @ts-expect-error: the installation id is the SDK's to send
    client.push.register({ id: 'x', provider: 'fcm', token: 't', appId: 'a' })
    expectTypeOf(await client.push.installationId()).toEqualTypeOf<string | null>()
  })

  it('types topics with subscribed, and preferences as a map', async () => {
    const topics = await client.push.topics.list()
    expectTypeOf(topics).toEqualTypeOf<PushTopicState[]>()
    expectTypeOf(topics[0]!.subscribed).toEqualTypeOf<boolean>()
    client.push.preferences.set({ topics: { marketing: false } })
    // @ts-expect-error: choices are booleans
    client.push.preferences.set({ topics: { marketing: 'no' } })
  })

  it('takes a real ServiceWorkerRegistration for Web Push', async () => {
    const registration = await navigator.serviceWorker.ready
    expectTypeOf(await client.push.registerWebPush({ registration })).toEqualTypeOf<PushDevice>()
    registerWebPush(client.push, { registration, appId: 'web' })
  })
})

describe('client.admin.push', () => {
  it('types credentials by provider', () => {
    expectTypeOf(client.admin.push.credentials.set('fcm', { serviceAccount: '{}' })).toEqualTypeOf<
      Promise<PushCredentialsStatus>
    >()
    client.admin.push.credentials.set('webpush', { subject: 'mailto:a@b.c' })
    // @ts-expect-error: APNs takes a team, key id and bundle id, not a service account
    client.admin.push.credentials.set('apns', { serviceAccount: '{}' })
    // @ts-expect-error: UnifiedPush needs no credentials
    client.admin.push.credentials.set('unifiedpush', {})
  })

  it('sends a PushMessageInput', async () => {
    expectTypeOf(
      await client.admin.push.send({ to: { topic: 'news' }, title: 'Hi' }),
    ).toEqualTypeOf<PushMessage>()
    // @ts-expect-error: data values are strings (as FCM requires)
    client.admin.push.send({ to: { all: true }, data: { n: 1 } })
  })
})

describe('@bastide/sdk/push-sw', () => {
  it('takes push and notification events by shape', () => {
    const event = { data: { json: () => ({}), text: () => '' }, waitUntil: (_: Promise<unknown>) => {} }
    expectTypeOf(parsePushPayload(event)).toEqualTypeOf<PushPayload>()
    expectTypeOf(showPushNotification(event, { icon: '/icon.png' })).toEqualTypeOf<Promise<void>>()
    expectTypeOf(
      handleNotificationClick({ notification: { data: {}, close() {} }, waitUntil() {} }),
    ).toEqualTypeOf<Promise<string | null>>()
  })
})
