import type { OpenApiPart } from '../../openapi/auth-paths.ts'

const TAG = 'Functions'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const body = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })
const name = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' },
}
const secret = {
  name: 'secret',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
}
const notFound = { description: 'No such function (`FUNCTION_NOT_FOUND`).' }
const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }

const ADMIN_OPS = [
  'listFunctions',
  'deployFunction',
  'getFunction',
  'deleteFunction',
  'getFunctionVersion',
  'rollbackFunction',
  'setFunctionSecret',
  'deleteFunctionSecret',
  'listFunctionInvocations',
  'invokeFunction',
]

/** /api/admin/functions (admins and keys with the `functions` scope) and the public /api/functions/{name}. */
export function functionsOpenApi(): OpenApiPart {
  const anyMethod = (operationId: string) => ({
    operationId,
    summary: "The function's own answer (any method; its body streams both ways)",
    tags: [TAG],
    parameters: [name],
    responses: {
      '200': { description: 'Whatever the function answers (any status, headers and body).' },
      '404': notFound,
      '502': {
        description: 'The function threw or answered something else than a Response (`FUNCTION_FAILED`).',
      },
      '504': { description: 'The function ran out of time or memory (`FUNCTION_TIMEOUT`).' },
    },
  })
  return {
    tags: [
      {
        name: TAG,
        description:
          'Functions: TypeScript modules run in a sandbox on HTTP, record, storage, auth and cron triggers (see docs/functions.md).',
      },
    ],
    adminOnly: ADMIN_OPS,
    paths: {
      '/api/functions/{name}': { get: anyMethod('callFunction'), post: anyMethod('postFunction') },
      '/api/admin/functions': {
        get: {
          operationId: 'listFunctions',
          summary: 'Every function, its active version and last invocation',
          tags: [TAG],
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['items'],
                properties: { items: { type: 'array', items: ref('FunctionSummary') } },
              },
              'The functions.',
            ),
            ...denied,
          },
        },
      },
      '/api/admin/functions/{name}': {
        put: {
          operationId: 'deployFunction',
          summary: 'Deploy a new version (active at once); the same source as the active version is a no-op',
          tags: [TAG],
          parameters: [name],
          requestBody: body({
            type: 'object',
            required: ['source'],
            properties: { source: { type: 'string' } },
          }),
          responses: {
            '200': json(ref('FunctionDetail'), 'A new version of an existing function (or the same one).'),
            '201': json(ref('FunctionDetail'), 'A new function.'),
            '400': {
              description: 'The module does not load or its declaration is invalid (`FUNCTION_INVALID`).',
            },
            ...denied,
          },
        },
        get: {
          operationId: 'getFunction',
          summary: "A function: its active source, versions and secrets' names",
          tags: [TAG],
          parameters: [name],
          responses: { '200': json(ref('FunctionDetail'), 'The function.'), ...denied, '404': notFound },
        },
        delete: {
          operationId: 'deleteFunction',
          summary: 'Delete a function, its versions, secrets and schedules',
          tags: [TAG],
          parameters: [name],
          responses: { '204': { description: 'Deleted.' }, ...denied, '404': notFound },
        },
      },
      '/api/admin/functions/{name}/versions/{version}': {
        get: {
          operationId: 'getFunctionVersion',
          summary: 'One kept version and its source',
          tags: [TAG],
          parameters: [name, { name: 'version', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: {
            '200': json(
              { type: 'object', properties: { version: ref('FunctionVersion'), source: { type: 'string' } } },
              'The version.',
            ),
            ...denied,
            '404': err('NotFound'),
          },
        },
      },
      '/api/admin/functions/{name}/rollback': {
        post: {
          operationId: 'rollbackFunction',
          summary: 'Make a kept version active again',
          tags: [TAG],
          parameters: [name],
          requestBody: body({
            type: 'object',
            required: ['version'],
            properties: { version: { type: 'integer' } },
          }),
          responses: {
            '200': json(ref('FunctionDetail'), 'The function.'),
            ...denied,
            '404': err('NotFound'),
          },
        },
      },
      '/api/admin/functions/{name}/secrets/{secret}': {
        put: {
          operationId: 'setFunctionSecret',
          summary: 'Set a secret (ctx.secrets.<secret>); its value is never returned',
          tags: [TAG],
          parameters: [name, secret],
          requestBody: body({
            type: 'object',
            required: ['value'],
            properties: { value: { type: 'string' } },
          }),
          responses: { '204': { description: 'Set.' }, ...denied, '404': notFound },
        },
        delete: {
          operationId: 'deleteFunctionSecret',
          summary: 'Delete a secret',
          tags: [TAG],
          parameters: [name, secret],
          responses: { '204': { description: 'Deleted.' }, ...denied, '404': err('NotFound') },
        },
      },
      '/api/admin/functions/{name}/invocations': {
        get: {
          operationId: 'listFunctionInvocations',
          summary: 'Invocations, newest first, with their logs',
          tags: [TAG],
          parameters: [
            name,
            {
              name: 'status',
              in: 'query',
              schema: { type: 'string', enum: ['ok', 'error', 'timeout', 'killed'] },
            },
            {
              name: 'trigger',
              in: 'query',
              schema: { type: 'string', enum: ['http', 'record', 'auth', 'storage', 'cron'] },
            },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            },
          ],
          responses: { '200': json(ref('InvocationPage'), 'A page.'), ...denied, '404': notFound },
        },
      },
      '/api/admin/functions/{name}/invoke': {
        post: {
          operationId: 'invokeFunction',
          summary:
            'A test run of an event handler with the given event (`event.trigger`: record, auth, storage, cron)',
          tags: [TAG],
          parameters: [name],
          requestBody: body({
            type: 'object',
            required: ['event'],
            properties: { event: { type: 'object' } },
          }),
          responses: {
            '200': json(ref('Invocation'), 'The invocation, logs included.'),
            ...denied,
            '404': notFound,
          },
        },
      },
    },
    schemas: {
      FunctionSummary: {
        type: 'object',
        required: ['name', 'version', 'manifest', 'createdAt', 'deployedAt', 'lastInvocation'],
        properties: {
          name: { type: 'string' },
          version: { type: 'integer' },
          manifest: { type: 'object', description: 'The `defineFunction` declaration without its handler.' },
          createdAt: { type: 'string', format: 'date-time' },
          deployedAt: { type: 'string', format: 'date-time' },
          lastInvocation: nullable('object'),
        },
      },
      FunctionVersion: {
        type: 'object',
        properties: {
          version: { type: 'integer' },
          checksum: { type: 'string', description: 'sha256 of the source, hex.' },
          createdAt: { type: 'string', format: 'date-time' },
          createdBy: { type: 'string' },
          active: { type: 'boolean' },
        },
      },
      FunctionDetail: {
        allOf: [
          ref('FunctionSummary'),
          {
            type: 'object',
            properties: {
              source: { type: 'string' },
              versions: { type: 'array', items: ref('FunctionVersion') },
              secrets: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    updatedAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
        ],
      },
      Invocation: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          function: { type: 'string' },
          version: { type: 'integer' },
          trigger: { type: 'string', enum: ['http', 'record', 'auth', 'storage', 'cron'] },
          status: { type: 'string', enum: ['ok', 'error', 'timeout', 'killed'] },
          httpStatus: nullable('integer'),
          startedAt: { type: 'string', format: 'date-time' },
          durationMs: { type: 'number' },
          jobId: nullable('string'),
          attempt: nullable('integer'),
          error: nullable('string'),
          logs: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                at: { type: 'string', format: 'date-time' },
                level: { type: 'string', enum: ['debug', 'info', 'warn', 'error'] },
                message: { type: 'string' },
              },
            },
          },
        },
      },
      InvocationPage: {
        type: 'object',
        properties: { items: { type: 'array', items: ref('Invocation') }, nextCursor: nullable('string') },
      },
    },
  }
}
