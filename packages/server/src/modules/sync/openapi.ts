import { SYNC_CONFLICT_POLICIES } from '@bastide/protocol'
import { syncSettingsInput } from '../../core/sync/settings.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters, zodSchema } from '../../openapi/zod-schema.ts'
import { pushRequest } from './push-routes.ts'
import { changesQuery } from './routes.ts'

const TAG = 'Sync'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown) => ({ 'application/json': { schema } })
const str = (description?: string) => ({ type: 'string', ...(description ? { description } : {}) })
const name = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'The collection.',
  schema: { type: 'string' },
}
const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }

/** The pull and push endpoints, and the admin settings. */
export function syncOpenApi(): OpenApiPart {
  const settings = {
    collection: str(),
    enabled: {
      type: 'boolean',
      description: 'Off: changes are not logged and /changes answers 409 SYNC_DISABLED.',
    },
    conflict: { type: 'string', enum: [...SYNC_CONFLICT_POLICIES] },
    mergeFunction: { type: ['string', 'null'], description: "The merge function, with conflict 'function'." },
  }
  const field = {
    name: str(),
    type: str(),
    multiple: { type: 'boolean' },
    collection: str('relation: the target collection.'),
    bucket: str('file: the bucket its objects are in.'),
  }
  const change = {
    oneOf: [
      {
        type: 'object',
        properties: { op: { const: 'upsert' }, record: { type: 'object', additionalProperties: true } },
        required: ['op', 'record'],
      },
      {
        type: 'object',
        properties: {
          op: { const: 'remove' },
          id: { type: 'string', format: 'uuid' },
          reason: { type: 'string', enum: ['deleted', 'left_view'] },
        },
        required: ['op', 'id', 'reason'],
      },
    ],
  }
  const page = {
    changes: { type: 'array', items: ref('SyncChange') },
    cursor: str('Pass as `since` for the next page (and the next sync when `hasMore` is false).'),
    hasMore: { type: 'boolean' },
    resync: {
      type: 'boolean',
      description:
        'The cursor is older than the retained log, was made for another filter, or the collection’s fields or rules changed: drop the local copy of this query and pull again without `since`.',
    },
    fields: { type: 'array', items: ref('SyncFieldInfo') },
  }
  return {
    tags: [{ name: TAG, description: 'Offline sync: pull changes since a cursor, push queued writes.' }],
    paths: {
      '/api/collections/{name}/changes': {
        get: {
          operationId: 'pullChanges',
          summary: 'Changes since a cursor, under the collection’s list and view rules',
          description:
            'Without `since`: every record the caller may list and view (and that matches `filter`), by id, then the changes since the first page. With it: the changes since, in commit order, each record at most once per page (as it is now). A record that was deleted, or left the caller’s view, comes as a removal only to callers who could see it.',
          tags: [TAG],
          parameters: [name, ...zodQueryParameters(changesQuery)],
          responses: {
            '200': { description: 'One page.', content: json(ref('SyncChangesPage')) },
            '400': err('BadRequest'),
            ...denied,
            '404': err('NotFound'),
            '409': err('Conflict'),
          },
        },
      },
      '/api/sync/push': {
        post: {
          operationId: 'pushMutations',
          summary: 'Apply a device’s queued offline writes, in order, each in its own transaction',
          description:
            'Up to 500 mutations. A retried mutation (same client id and mutation id) answers with its first result without writing again. A conflicting write (its `baseVersion` is not the record’s version) is resolved by the collection’s policy; a refused one is `rejected` and the others still apply.',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(pushRequest)) },
          responses: {
            '200': {
              description: 'One result per mutation, in order.',
              content: json(ref('SyncPushResponse')),
            },
            '400': err('BadRequest'),
            '413': err('PayloadTooLarge'),
          },
        },
      },
      '/api/admin/sync': {
        get: {
          operationId: 'getSyncOverview',
          summary: 'Every collection’s sync settings, and the change log’s size',
          tags: [TAG],
          responses: {
            '200': { description: 'The overview.', content: json(ref('SyncOverview')) },
            ...denied,
          },
        },
      },
      '/api/admin/sync/collections/{name}': {
        get: {
          operationId: 'getSyncSettings',
          summary: 'A collection’s sync settings',
          tags: [TAG],
          parameters: [name],
          responses: {
            '200': { description: 'The settings.', content: json(ref('SyncCollectionSettings')) },
            ...denied,
            '404': err('NotFound'),
          },
        },
        put: {
          operationId: 'setSyncSettings',
          summary: 'Turn sync on or off for a collection, and set its conflict policy',
          description: 'Turning it on makes every existing cursor of the collection resync.',
          tags: [TAG],
          parameters: [name],
          requestBody: { required: true, content: json(zodSchema(syncSettingsInput)) },
          responses: {
            '200': { description: 'The settings.', content: json(ref('SyncCollectionSettings')) },
            '400': err('BadRequest'),
            ...denied,
            '404': err('NotFound'),
          },
        },
      },
    },
    schemas: {
      SyncCollectionSettings: { type: 'object', properties: settings, required: Object.keys(settings) },
      SyncOverview: {
        type: 'object',
        properties: {
          retentionDays: { type: 'integer' },
          collections: { type: 'array', items: ref('SyncCollectionSettings') },
          log: {
            type: 'object',
            properties: {
              entries: { type: 'integer' },
              oldest: { type: ['string', 'null'], format: 'date-time' },
            },
            required: ['entries', 'oldest'],
          },
        },
        required: ['retentionDays', 'collections', 'log'],
      },
      SyncFieldInfo: { type: 'object', properties: field, required: ['name', 'type', 'multiple'] },
      SyncChange: change,
      SyncChangesPage: { type: 'object', properties: page, required: Object.keys(page) },
      SyncMutationResult: {
        type: 'object',
        properties: {
          id: str('The mutation’s id.'),
          status: { type: 'string', enum: ['applied', 'resolved', 'rejected'] },
          record: {
            type: ['object', 'null'],
            additionalProperties: true,
            description:
              'The record as the server now has it and the caller may see it (null: gone or hidden).',
          },
          conflict: {
            type: 'object',
            properties: {
              policy: { type: 'string', enum: [...SYNC_CONFLICT_POLICIES] },
              serverVersion: { type: ['integer', 'null'] },
              fields: { type: 'array', items: { type: 'string' } },
              outcome: { type: 'string', enum: ['server', 'client', 'merged'] },
            },
            required: ['policy', 'serverVersion', 'fields', 'outcome'],
          },
          error: ref('Error'),
        },
        required: ['id', 'status', 'record'],
      },
      SyncPushResponse: {
        type: 'object',
        properties: { results: { type: 'array', items: ref('SyncMutationResult') } },
        required: ['results'],
      },
    },
    adminOnly: ['getSyncOverview', 'getSyncSettings', 'setSyncSettings'],
  }
}
