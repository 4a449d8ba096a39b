import { SCHEMA_CHANGE_OPS } from '@bastide/protocol'
import { migrationInput } from '../../core/schema/schema-service.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodSchema } from '../../openapi/zod-schema.ts'
import { applyBody, planBody } from './routes.ts'

const TAG = 'Schema'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown) => ({ 'application/json': { schema } })
const rule = { type: ['string', 'null'], description: '`null`: locked; `""`: everyone; else an expression.' }
const obj = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
})

const refusals = {
  '400': err('BadRequest'),
  '401': err('Unauthorized'),
  '403': err('Forbidden'),
  '409': {
    description:
      'Nothing was applied: `details.reason` is `destructive` (with `details.destructive`), `plan_changed` ' +
      '(expectHash no longer matches), `checksum_mismatch` (a migration id applied with another checksum), ' +
      'or existing records do not fit the new definition.',
    content: json(ref('Error')),
  },
}

/** /api/admin/schema in the API document (schema administration: absent from the public one). */
export function schemaOpenApi(): OpenApiPart {
  return {
    tags: [
      {
        name: TAG,
        description:
          'Schema as code: collections, buckets and channel definitions as one canonical document; plans and atomic applies.',
      },
    ],
    paths: {
      '/api/admin/schema': {
        get: {
          operationId: 'exportSchema',
          summary: "The instance's schema, in canonical form",
          tags: [TAG],
          responses: {
            '200': { description: 'The schema.', content: json(ref('SchemaDocument')) },
            ...refusals,
          },
        },
      },
      '/api/admin/schema/plan': {
        post: {
          operationId: 'planSchema',
          summary: 'What applying a schema would change',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(planBody)) },
          responses: { '200': { description: 'The plan.', content: json(ref('SchemaPlan')) }, ...refusals },
        },
      },
      '/api/admin/schema/apply': {
        post: {
          operationId: 'applySchema',
          summary: 'Apply a schema in one transaction',
          description: 'Every change of the plan, or none.',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(applyBody)) },
          responses: {
            '200': { description: 'Applied.', content: json(ref('SchemaApplyResult')) },
            ...refusals,
          },
        },
      },
      '/api/admin/schema/migrations': {
        get: {
          operationId: 'listSchemaMigrations',
          summary: 'Migrations applied to this instance',
          tags: [TAG],
          responses: {
            '200': {
              description: 'By id.',
              content: json(obj({ items: { type: 'array', items: ref('AppliedMigration') } })),
            },
            ...refusals,
          },
        },
        post: {
          operationId: 'applySchemaMigration',
          summary: 'Apply a migration and record it, in one transaction',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(migrationInput)) },
          responses: {
            '200': { description: 'Applied, or already applied.', content: json(ref('SchemaApplyResult')) },
            ...refusals,
          },
        },
      },
    },
    schemas: {
      SchemaDocument: obj({
        collections: {
          type: 'array',
          items: obj(
            {
              name: { type: 'string' },
              renamedFrom: { type: 'string' },
              system: { type: 'boolean' },
              fields: { type: 'array', items: { type: 'object', additionalProperties: true } },
              indexes: {
                type: 'array',
                items: obj({
                  fields: { type: 'array', items: { type: 'string' } },
                  unique: { type: 'boolean' },
                }),
              },
              rules: obj({ list: rule, view: rule, create: rule, update: rule, delete: rule }),
            },
            ['name', 'fields', 'indexes', 'rules'],
          ),
        },
        buckets: {
          type: 'array',
          items: obj({
            name: { type: 'string' },
            public: { type: 'boolean' },
            maxFileSize: { type: ['integer', 'null'] },
            allowedMimeTypes: { type: 'array', items: { type: 'string' } },
            rules: obj({ read: rule, write: rule, delete: rule }),
          }),
        },
        channels: {
          type: 'array',
          items: obj({
            pattern: { type: 'string' },
            presence: { type: 'boolean' },
            rules: obj({ join: rule, send: rule }),
          }),
        },
      }),
      SchemaPlan: obj(
        {
          changes: {
            type: 'array',
            items: obj({
              op: { type: 'string', enum: [...SCHEMA_CHANGE_OPS] },
              target: { type: 'string' },
              description: { type: 'string' },
              destructive: { type: 'boolean' },
            }),
          },
          hash: { type: 'string' },
          sql: {
            type: 'array',
            items: { type: 'string' },
            description: 'With `check`: the statements the apply runs.',
          },
        },
        ['changes', 'hash'],
      ),
      SchemaApplyResult: {
        allOf: [ref('SchemaPlan'), obj({ applied: { type: 'boolean' } })],
      },
      AppliedMigration: obj({
        id: { type: 'string' },
        checksum: { type: 'string' },
        appliedAt: { type: 'string', format: 'date-time' },
        appliedBy: { type: 'string' },
      }),
    },
    adminOnly: ['exportSchema', 'planSchema', 'applySchema', 'listSchemaMigrations', 'applySchemaMigration'],
  }
}
