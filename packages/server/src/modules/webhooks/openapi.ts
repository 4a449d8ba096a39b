import { WEBHOOK_EVENTS } from '@bastide/protocol'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters, zodSchema } from '../../openapi/zod-schema.ts'
import { deliveriesQuery, webhookInput, webhookPatch } from './routes.ts'

const TAG = 'Webhooks'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown) => ({ 'application/json': { schema } })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })
const idParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
})
const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }
const missing = { ...denied, '404': err('NotFound') }
const refused = {
  '422': {
    description:
      'DESTINATION_REFUSED: the URL resolves to a loopback, private or link-local address not allow-listed.',
    content: json(ref('Error')),
  },
}

function op(
  operationId: string,
  summary: string,
  o: { params?: string[]; body?: unknown; ok: [string, string, unknown?]; errors?: Record<string, unknown> },
) {
  return {
    operationId,
    summary,
    tags: [TAG],
    ...(o.params ? { parameters: o.params.map(idParam) } : {}),
    ...(o.body ? { requestBody: { required: true, content: json(o.body) } } : {}),
    responses: {
      [o.ok[0]]: { description: o.ok[1], ...(o.ok[2] ? { content: json(o.ok[2]) } : {}) },
      ...(o.errors ?? denied),
    },
  }
}

/** /api/admin/webhooks in the API document (console admins and `functions` keys: absent from the public one). */
export function webhooksOpenApi(): OpenApiPart {
  const webhook = {
    id: { type: 'string', format: 'uuid' },
    url: { type: 'string', format: 'uri' },
    collection: { type: 'string', description: 'A collection, or `*` for every one.' },
    actions: { type: 'array', items: { type: 'string', enum: ['create', 'update', 'delete'] } },
    description: nullable('string'),
    enabled: { type: 'boolean' },
    secretHint: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  }
  const attempt = {
    type: 'object',
    properties: {
      at: { type: 'string', format: 'date-time' },
      statusCode: nullable('integer'),
      durationMs: { type: 'integer' },
      responseBody: nullable('string', { description: 'The first KiB of the answer.' }),
      error: nullable('string'),
    },
    required: ['at', 'statusCode', 'durationMs', 'responseBody', 'error'],
  }
  return {
    tags: [
      {
        name: TAG,
        description:
          'Outbound webhooks: record changes POSTed as JSON signed with `Bastide-Signature`, retried with backoff, every attempt kept (docs/webhooks.md).',
      },
    ],
    paths: {
      '/api/admin/webhooks': {
        get: op('listWebhooks', 'Every webhook', {
          ok: [
            '200',
            'The webhooks.',
            { type: 'object', properties: { items: { type: 'array', items: ref('Webhook') } } },
          ],
        }),
        post: op('createWebhook', 'Create a webhook; the answer holds its signing secret, shown this once', {
          body: zodSchema(webhookInput),
          ok: ['201', 'The webhook, with `secret`.', ref('WebhookWithSecret')],
          errors: { '400': err('BadRequest'), ...denied, ...refused },
        }),
      },
      '/api/admin/webhooks/{id}': {
        get: op('getWebhook', 'A webhook', {
          params: ['id'],
          ok: ['200', 'The webhook.', ref('Webhook')],
          errors: missing,
        }),
        patch: op('updateWebhook', 'Change a webhook', {
          params: ['id'],
          body: zodSchema(webhookPatch),
          ok: ['200', 'The webhook.', ref('Webhook')],
          errors: { '400': err('BadRequest'), ...missing, ...refused },
        }),
        delete: op('deleteWebhook', 'Delete a webhook, its deliveries and their history', {
          params: ['id'],
          ok: ['204', 'Deleted.'],
          errors: missing,
        }),
      },
      '/api/admin/webhooks/{id}/rotate-secret': {
        post: op(
          'rotateWebhookSecret',
          'A new signing secret, shown this once (the previous one signs too for 24 h)',
          {
            params: ['id'],
            ok: ['200', 'The webhook, with `secret`.', ref('WebhookWithSecret')],
            errors: missing,
          },
        ),
      },
      '/api/admin/webhooks/{id}/test': {
        post: op('testWebhook', 'Send a `ping` delivery now (once, no retries) and answer with its outcome', {
          params: ['id'],
          ok: ['200', 'The ping delivery, with its attempt.', ref('WebhookDelivery')],
          errors: missing,
        }),
      },
      '/api/admin/webhooks/{id}/deliveries': {
        get: {
          ...op('listWebhookDeliveries', 'Deliveries of a webhook, newest first, each with its attempts', {
            ok: ['200', 'One page.', ref('WebhookDeliveryPage')],
            errors: { '400': err('BadRequest'), ...missing },
          }),
          parameters: [idParam('id'), ...zodQueryParameters(deliveriesQuery)],
        },
      },
      '/api/admin/webhooks/{id}/deliveries/{delivery}': {
        get: op('getWebhookDelivery', 'A delivery, with its payload and attempts', {
          params: ['id', 'delivery'],
          ok: ['200', 'The delivery.', ref('WebhookDelivery')],
          errors: missing,
        }),
      },
      '/api/admin/webhooks/{id}/deliveries/{delivery}/redeliver': {
        post: op(
          'redeliverWebhookDelivery',
          'Queue a delivery again (same id and payload), whatever its status',
          {
            params: ['id', 'delivery'],
            ok: ['202', 'Queued.', ref('WebhookDelivery')],
            errors: missing,
          },
        ),
      },
    },
    schemas: {
      Webhook: { type: 'object', properties: webhook, required: Object.keys(webhook) },
      WebhookWithSecret: {
        type: 'object',
        properties: {
          ...webhook,
          secret: { type: 'string', description: '`whsec_…`: the HMAC key, as UTF-8.' },
        },
        required: [...Object.keys(webhook), 'secret'],
      },
      WebhookDelivery: {
        type: 'object',
        properties: {
          id: {
            type: 'string',
            format: 'uuid',
            description: 'Also the payload `id`: the receiver’s idempotency key.',
          },
          webhookId: { type: 'string', format: 'uuid' },
          event: { type: 'string', enum: [...WEBHOOK_EVENTS] },
          status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
          recordId: nullable('string'),
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
          attempts: { type: 'array', items: attempt },
          payload: { type: 'object', description: 'What is POSTed (single delivery only).' },
        },
        required: ['id', 'webhookId', 'event', 'status', 'recordId', 'createdAt', 'updatedAt', 'attempts'],
      },
      WebhookDeliveryPage: {
        type: 'object',
        properties: {
          items: { type: 'array', items: ref('WebhookDelivery') },
          nextCursor: nullable('string'),
        },
        required: ['items', 'nextCursor'],
      },
    },
    adminOnly: [
      'listWebhooks',
      'createWebhook',
      'getWebhook',
      'updateWebhook',
      'deleteWebhook',
      'rotateWebhookSecret',
      'testWebhook',
      'listWebhookDeliveries',
      'getWebhookDelivery',
      'redeliverWebhookDelivery',
    ],
  }
}
