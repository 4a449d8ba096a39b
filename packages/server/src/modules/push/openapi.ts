import {
  PUSH_CREDENTIAL_PROVIDERS,
  PUSH_DELIVERY_STATUSES,
  PUSH_MESSAGE_STATUSES,
  PUSH_PROVIDERS,
} from '@bastide/protocol'
import { pushDeviceInput } from '../../core/push/devices.ts'
import { pushPreferencesInput } from '../../core/push/preferences.ts'
import { pushTopicInput, pushTopicPatch } from '../../core/push/topics.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters, zodSchema } from '../../openapi/zod-schema.ts'
import { deliveriesQuery, messagesQuery } from './message-routes.ts'
import {
  adminDevicesQuery,
  adminSubscriptionInput,
  subscriptionInput,
  topicsQuery,
  unsubscribeQuery,
} from './routes.ts'

const TAG = 'Push'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown) => ({ 'application/json': { schema } })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })
const str = (description?: string) => ({ type: 'string', ...(description ? { description } : {}) })
const dateTime = { type: 'string', format: 'date-time' }
const pathParam = (name: string, description: string, extra: Record<string, unknown> = {}) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', ...extra },
})
const PARAMS: Record<string, Record<string, unknown>> = {
  id: pathParam('id', 'The installation id.'),
  name: pathParam('name', 'The topic.', { pattern: '^[a-z0-9_.-]{1,64}$' }),
  provider: pathParam('provider', 'The provider.', { enum: [...PUSH_CREDENTIAL_PROVIDERS] }),
  message: { ...pathParam('id', 'The message id.'), schema: { type: 'string', format: 'uuid' } },
}
const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }
const bad = { '400': err('BadRequest') }
const missing = { ...denied, '404': err('NotFound') }

function op(
  operationId: string,
  summary: string,
  o: {
    params?: string[]
    query?: Record<string, unknown>[]
    body?: unknown
    ok: [string, string, unknown?]
    errors?: Record<string, unknown>
    description?: string
  },
) {
  const parameters = [...(o.params ?? []).map((p) => PARAMS[p]!), ...(o.query ?? [])]
  return {
    operationId,
    summary,
    ...(o.description ? { description: o.description } : {}),
    tags: [TAG],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(o.body ? { requestBody: { required: true, content: json(o.body) } } : {}),
    responses: {
      [o.ok[0]]: { description: o.ok[1], ...(o.ok[2] ? { content: json(o.ok[2]) } : {}) },
      ...(o.errors ?? denied),
    },
  }
}

const page = (item: string) => ({
  type: 'object',
  properties: { items: { type: 'array', items: ref(item) }, nextCursor: nullable('string') },
  required: ['items', 'nextCursor'],
})

const localizedTexts = {
  type: 'object',
  properties: { title: str(), body: str(), subtitle: str() },
  additionalProperties: false,
}

/** PushContent's properties (messages as sent and as answered). */
const content = {
  title: str(),
  body: str(),
  subtitle: str('APNs subtitle (other providers ignore it).'),
  localized: {
    type: 'object',
    description:
      'Per-locale variants keyed by BCP 47 tag (`fr`, `pt-BR`): a device gets its locale’s, then its language’s, then the default.',
    additionalProperties: localizedTexts,
  },
  data: {
    type: 'object',
    description: 'Custom key/values delivered to the app (strings, as FCM requires).',
    additionalProperties: { type: 'string' },
  },
  badge: { type: 'integer', minimum: 0 },
  sound: str('A sound name (`default`).'),
  image: { type: 'string', format: 'uri', description: 'An https image URL.' },
  category: str('APNs category / FCM click action / Web Push action tag.'),
  threadId: str('APNs thread id / Android grouping tag.'),
}

const target = {
  type: 'object',
  description: 'Exactly one of these.',
  properties: {
    users: { type: 'array', maxItems: 1000, items: { type: 'string', format: 'uuid' } },
    filter: str('A filter over the `users` collection (`verified = true`).'),
    topic: str('The devices subscribed to this topic.'),
    devices: { type: 'array', maxItems: 1000, items: { type: 'string' } },
    all: { type: 'boolean', const: true, description: 'Every registered device.' },
  },
  minProperties: 1,
  maxProperties: 1,
}

/** /api/push and /api/admin/push in the API document; senders' and admins' operations are not in the public one. */
export function pushOpenApi(): OpenApiPart {
  const device = {
    id: str('The installation id.'),
    provider: { type: 'string', enum: [...PUSH_PROVIDERS] },
    appId: str(),
    environment: nullable('string', { enum: ['production', 'sandbox', null] }),
    locale: nullable('string'),
    appVersion: nullable('string'),
    userId: nullable('string', { format: 'uuid' }),
    tokenHint: str('The token’s last 8 characters (the token itself is never shown).'),
    topics: { type: 'array', items: { type: 'string' } },
    createdAt: dateTime,
    updatedAt: dateTime,
    lastSeenAt: dateTime,
  }
  const topic = {
    name: str(),
    description: nullable('string'),
    subscribeRule: nullable('string', {
      description: 'null: admins only; "": anyone; otherwise a rule over the caller’s `users` record.',
    }),
    subscribers: { type: 'integer', description: 'Admin answers only.' },
    createdAt: dateTime,
    updatedAt: dateTime,
  }
  const counts = {
    targeted: { type: 'integer' },
    pending: { type: 'integer' },
    sent: { type: 'integer' },
    failed: { type: 'integer' },
    invalidToken: { type: 'integer' },
    optedOut: { type: 'integer' },
  }
  const message = {
    id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: [...PUSH_MESSAGE_STATUSES] },
    to: ref('PushTarget'),
    topic: nullable('string'),
    ttlSeconds: { type: 'integer' },
    collapseKey: nullable('string'),
    priority: { type: 'string', enum: ['high', 'normal'] },
    silent: { type: 'boolean' },
    sendAt: nullable('string', { format: 'date-time' }),
    source: str('`api`, `console` or `function:<name>`.'),
    counts: ref('PushCounts'),
    createdAt: dateTime,
    completedAt: nullable('string', { format: 'date-time' }),
  }
  const delivery = {
    id: { type: 'string', format: 'uuid' },
    messageId: { type: 'string', format: 'uuid' },
    deviceId: str(),
    provider: { type: 'string', enum: [...PUSH_PROVIDERS] },
    userId: nullable('string', { format: 'uuid' }),
    status: { type: 'string', enum: [...PUSH_DELIVERY_STATUSES] },
    attempts: { type: 'integer' },
    reason: nullable('string'),
    providerId: nullable('string'),
    updatedAt: dateTime,
  }
  const updatedAt = { updatedAt: dateTime }
  const credentialsStatus = {
    type: 'object',
    description: 'What is configured; never a secret.',
    properties: {
      apns: {
        type: ['object', 'null'],
        properties: { teamId: str(), keyId: str(), bundleId: str(), ...updatedAt },
        required: ['teamId', 'keyId', 'bundleId', 'updatedAt'],
      },
      fcm: {
        type: ['object', 'null'],
        properties: { projectId: str(), clientEmail: str(), ...updatedAt },
        required: ['projectId', 'clientEmail', 'updatedAt'],
      },
      webpush: {
        type: ['object', 'null'],
        properties: { subject: str(), publicKey: str(), ...updatedAt },
        required: ['subject', 'publicKey', 'updatedAt'],
      },
    },
    required: ['apns', 'fcm', 'webpush'],
  }
  const credentialsInput = {
    oneOf: [
      {
        title: 'apns',
        type: 'object',
        properties: {
          teamId: { type: 'string', pattern: '^[A-Z0-9]{10}$' },
          keyId: { type: 'string', pattern: '^[A-Z0-9]{10}$' },
          privateKey: str('The .p8 file’s text (EC P-256 PEM); write-only. Omitted on update: kept.'),
          bundleId: str(),
        },
        required: ['teamId', 'keyId', 'bundleId'],
        additionalProperties: false,
      },
      {
        title: 'fcm',
        type: 'object',
        properties: {
          serviceAccount: str(
            'The service account JSON file’s content (project_id, client_email, private_key, token_uri: https, on a public address); write-only.',
          ),
        },
        required: ['serviceAccount'],
        additionalProperties: false,
      },
      {
        title: 'webpush',
        type: 'object',
        properties: {
          subject: str('`mailto:` or `https:` contact.'),
          publicKey: str(
            'base64url raw P-256 point (65 bytes), with privateKey. Neither: the stored pair is kept (one is generated when none is stored).',
          ),
          privateKey: str('base64url raw P-256 private key (32 bytes); write-only.'),
          regenerate: {
            type: 'boolean',
            description:
              'true: a new pair replaces the stored one (every browser subscribed with the old key stops receiving). Not with keys.',
          },
        },
        required: ['subject'],
        additionalProperties: false,
      },
    ],
  }
  const changed = {
    type: 'object',
    properties: { changed: { type: 'integer', description: 'Subscriptions added or removed.' } },
    required: ['changed'],
  }
  const messageId = ['message']
  return {
    tags: [
      {
        name: TAG,
        description:
          'Push notifications: devices register (APNs, FCM, Web Push, UnifiedPush) and subscribe to topics; messages are queued, fanned out per device, retried and kept with each delivery’s status (docs/push.md).',
      },
    ],
    paths: {
      '/api/push/config': {
        get: op('getPushConfig', 'What an app needs to register: the providers available, the VAPID key', {
          ok: ['200', 'The configuration.', ref('PushConfig')],
          errors: {},
        }),
      },
      '/api/push/devices': {
        get: op('listMyPushDevices', 'The signed-in user’s devices', {
          ok: [
            '200',
            'The devices.',
            { type: 'object', properties: { items: { type: 'array', items: ref('PushDevice') } } },
          ],
          errors: { '401': err('Unauthorized') },
        }),
        post: op('registerPushDevice', 'Register a device, or update it in place (by installation id)', {
          description:
            'The device belongs to the signed-in caller (none when anonymous). Another installation holding the same token is removed.',
          body: zodSchema(pushDeviceInput),
          ok: ['201', 'Registered (200 when it was already: updated).', ref('PushDevice')],
          errors: { ...bad, '429': err('RateLimited') },
        }),
      },
      '/api/push/devices/{id}': {
        delete: op('removePushDevice', 'Remove a device (holding its id is the proof); idempotent', {
          params: ['id'],
          ok: ['204', 'Removed (or there was none).'],
          errors: {},
        }),
      },
      '/api/push/topics': {
        get: op(
          'listPushTopics',
          'The topics devices may subscribe to, and those a device is subscribed to',
          {
            query: zodQueryParameters(topicsQuery),
            ok: [
              '200',
              'The topics.',
              {
                type: 'object',
                properties: {
                  items: { type: 'array', items: ref('PushTopic') },
                  subscribed: { type: 'array', items: { type: 'string' } },
                },
                required: ['items', 'subscribed'],
              },
            ],
            errors: bad,
          },
        ),
      },
      '/api/push/topics/{name}/subscriptions': {
        post: op('subscribePushTopic', 'Subscribe a device to a topic, as its rule allows', {
          params: ['name'],
          body: zodSchema(subscriptionInput),
          ok: ['204', 'Subscribed.'],
          errors: { ...bad, ...missing },
        }),
        delete: op('unsubscribePushTopic', 'Unsubscribe a device from a topic', {
          params: ['name'],
          query: zodQueryParameters(unsubscribeQuery),
          ok: ['204', 'Unsubscribed.'],
          errors: { ...bad, '404': err('NotFound') },
        }),
      },
      '/api/push/preferences': {
        get: op('getPushPreferences', 'The signed-in user’s per-topic choices', {
          ok: ['200', 'The preferences.', ref('PushPreferences')],
          errors: { '401': err('Unauthorized') },
        }),
        put: op('setPushPreferences', 'Replace the signed-in user’s per-topic choices', {
          body: zodSchema(pushPreferencesInput),
          ok: ['200', 'The preferences.', ref('PushPreferences')],
          errors: { ...bad, '401': err('Unauthorized') },
        }),
      },
      '/api/push/messages': {
        post: op('sendPushMessage', 'Send (or schedule) a message: queued, fanned out per device', {
          description: 'Console admins, BASTIDE_ADMIN_KEY, or API keys with the `push` scope.',
          body: ref('PushMessageInput'),
          ok: ['202', 'Accepted (status `queued` or `scheduled`).', ref('PushMessage')],
          errors: { ...bad, ...denied },
        }),
        get: op('listPushMessages', 'Messages, newest first', {
          query: zodQueryParameters(messagesQuery),
          ok: ['200', 'One page.', page('PushMessage')],
          errors: { ...bad, ...denied },
        }),
      },
      '/api/push/messages/{id}': {
        get: op('getPushMessage', 'A message, with its delivery counts', {
          params: messageId,
          ok: ['200', 'The message.', ref('PushMessage')],
          errors: missing,
        }),
        delete: op('cancelPushMessage', 'Cancel a scheduled message', {
          params: messageId,
          ok: ['200', 'The message, canceled.', ref('PushMessage')],
          errors: { ...missing, '409': err('Conflict') },
        }),
      },
      '/api/push/messages/{id}/deliveries': {
        get: op('listPushDeliveries', 'A message’s deliveries, one per device', {
          params: messageId,
          query: zodQueryParameters(deliveriesQuery),
          ok: ['200', 'One page.', page('PushDelivery')],
          errors: { ...bad, ...missing },
        }),
      },
      '/api/admin/push/credentials': {
        get: op('getPushCredentials', 'Which providers are configured (never a secret)', {
          ok: ['200', 'The status.', ref('PushCredentialsStatus')],
        }),
      },
      '/api/admin/push/credentials/{provider}': {
        put: op('setPushCredentials', 'Set a provider’s credentials (the secret is sealed and never shown)', {
          description:
            'Console admins and BASTIDE_ADMIN_KEY only: a key with the push scope reads the status but cannot change credentials.',
          params: ['provider'],
          body: credentialsInput,
          ok: ['200', 'The status.', ref('PushCredentialsStatus')],
          errors: { ...bad, ...missing },
        }),
        delete: op('removePushCredentials', 'Remove a provider’s credentials', {
          description: 'Console admins and BASTIDE_ADMIN_KEY only.',
          params: ['provider'],
          ok: ['200', 'The status.', ref('PushCredentialsStatus')],
          errors: missing,
        }),
      },
      '/api/admin/push/devices': {
        get: op('listPushDevices', 'Every device (of a user), by id', {
          query: zodQueryParameters(adminDevicesQuery),
          ok: ['200', 'One page.', page('PushDevice')],
          errors: { ...bad, ...denied },
        }),
      },
      '/api/admin/push/devices/{id}': {
        get: op('getPushDevice', 'A device', {
          params: ['id'],
          ok: ['200', 'The device.', ref('PushDevice')],
          errors: missing,
        }),
        delete: op('deletePushDevice', 'Remove a device', {
          params: ['id'],
          ok: ['204', 'Removed.'],
          errors: missing,
        }),
      },
      '/api/admin/push/topics': {
        get: op('listPushTopicsAdmin', 'Every topic, with its subscriber count', {
          ok: [
            '200',
            'The topics.',
            { type: 'object', properties: { items: { type: 'array', items: ref('PushTopic') } } },
          ],
        }),
        post: op('createPushTopic', 'Create a topic', {
          body: zodSchema(pushTopicInput),
          ok: ['201', 'The topic.', ref('PushTopic')],
          errors: { ...bad, ...denied, '409': err('Conflict') },
        }),
      },
      '/api/admin/push/topics/{name}': {
        patch: op('updatePushTopic', 'Change a topic’s description or rule', {
          params: ['name'],
          body: zodSchema(pushTopicPatch),
          ok: ['200', 'The topic.', ref('PushTopic')],
          errors: { ...bad, ...missing },
        }),
        delete: op('deletePushTopic', 'Delete a topic and its subscriptions', {
          params: ['name'],
          ok: ['204', 'Deleted.'],
          errors: missing,
        }),
      },
      '/api/admin/push/topics/{name}/subscriptions': {
        post: op('subscribePushDevices', 'Subscribe devices to a topic (unknown ids are skipped)', {
          params: ['name'],
          body: zodSchema(adminSubscriptionInput),
          ok: ['200', 'How many were added.', changed],
          errors: { ...bad, ...missing },
        }),
        delete: op('unsubscribePushDevices', 'Unsubscribe devices from a topic', {
          params: ['name'],
          body: zodSchema(adminSubscriptionInput),
          ok: ['200', 'How many were removed.', changed],
          errors: { ...bad, ...missing },
        }),
      },
    },
    schemas: {
      PushConfig: {
        type: 'object',
        properties: {
          providers: { type: 'array', items: { type: 'string', enum: [...PUSH_PROVIDERS] } },
          vapidPublicKey: nullable('string', {
            description:
              'For `pushManager.subscribe({ applicationServerKey })`; null until Web Push is configured.',
          }),
        },
        required: ['providers', 'vapidPublicKey'],
      },
      PushDevice: {
        type: 'object',
        properties: device,
        required: Object.keys(device),
      },
      PushTopic: {
        type: 'object',
        properties: topic,
        required: Object.keys(topic).filter((k) => k !== 'subscribers'),
      },
      PushPreferences: zodSchema(pushPreferencesInput),
      PushTarget: target,
      PushCounts: { type: 'object', properties: counts, required: Object.keys(counts) },
      PushMessageInput: {
        type: 'object',
        properties: {
          to: ref('PushTarget'),
          ...content,
          topic: str('The message’s topic for preferences (with `to.topic`: that topic).'),
          ttlSeconds: { type: 'integer', minimum: 0, maximum: 2_419_200, default: 86_400 },
          collapseKey: str(),
          priority: { type: 'string', enum: ['high', 'normal'] },
          silent: { type: 'boolean', description: 'Data only: nothing shown, the app is woken.' },
          sendAt: { type: 'string', format: 'date-time', description: 'Send at this time instead of now.' },
        },
        required: ['to'],
        additionalProperties: false,
      },
      PushMessage: {
        type: 'object',
        properties: { ...message, ...content },
        required: Object.keys(message),
      },
      PushMessagePage: page('PushMessage'),
      PushDelivery: { type: 'object', properties: delivery, required: Object.keys(delivery) },
      PushDeliveryPage: page('PushDelivery'),
      PushCredentialsStatus: credentialsStatus,
    },
    adminOnly: [
      'sendPushMessage',
      'listPushMessages',
      'getPushMessage',
      'cancelPushMessage',
      'listPushDeliveries',
      'getPushCredentials',
      'setPushCredentials',
      'removePushCredentials',
      'listPushDevices',
      'getPushDevice',
      'deletePushDevice',
      'listPushTopicsAdmin',
      'createPushTopic',
      'updatePushTopic',
      'deletePushTopic',
      'subscribePushDevices',
      'unsubscribePushDevices',
    ],
  }
}
