import type { OpenApiPart } from './auth-paths.ts'

type Obj = Record<string, unknown>

const TAG = 'Realtime'
const ref = (kind: 'schemas' | 'responses', name: string): Obj => ({ $ref: `#/components/${kind}/${name}` })
const json = (s: Obj): Obj => ({ 'application/json': { schema: s } })
const errs = (...pairs: [string, string][]): Obj =>
  Object.fromEntries(pairs.map(([code, name]) => [code, ref('responses', name)]))
const rule = {
  type: ['string', 'null'],
  description: '`null`: locked (admins and keys only); `""`: everyone.',
}
const fields: Obj = {
  pattern: {
    type: 'string',
    pattern: '^[A-Za-z0-9:_./-]{1,200}\\*?$',
    description:
      'An exact channel name, or a prefix ending in `*` (`room:*`); the most specific pattern wins.',
  },
  rules: {
    type: 'object',
    description:
      'Rule language over `name` (the channel), `param` (what `*` matched), `@request.auth.*` and `@collection.*`.',
    properties: { join: rule, send: rule },
    additionalProperties: false,
  },
  presence: { type: 'boolean', description: 'Keep presence for the channel (default true).' },
}

const SCHEMAS: Obj = {
  ChannelDefinition: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      ...fields,
      created: { type: 'string', format: 'date-time' },
      updated: { type: 'string', format: 'date-time' },
    },
    required: ['id', 'pattern', 'rules', 'presence', 'created', 'updated'],
  },
  ChannelDefinitionInput: {
    type: 'object',
    properties: fields,
    required: ['pattern'],
    additionalProperties: false,
  },
  ChannelDefinitionPatch: { type: 'object', properties: fields, additionalProperties: false },
  ChannelDefinitionList: {
    type: 'object',
    properties: { items: { type: 'array', items: ref('schemas', 'ChannelDefinition') } },
    required: ['items'],
  },
}

const auth: [string, string][] = [
  ['401', 'Unauthorized'],
  ['403', 'Forbidden'],
]
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }

const PATHS: Obj = {
  '/api/realtime/channels': {
    get: {
      operationId: 'listChannelDefinitions',
      summary: 'List channel definitions',
      tags: [TAG],
      description:
        'Who may join and send on which realtime channels. Console admins and keys with the `schema` scope.',
      responses: {
        '200': { description: 'The definitions.', content: json(ref('schemas', 'ChannelDefinitionList')) },
        ...errs(...auth),
      },
    },
    post: {
      operationId: 'createChannelDefinition',
      summary: 'Define a channel pattern',
      tags: [TAG],
      requestBody: { required: true, content: json(ref('schemas', 'ChannelDefinitionInput')) },
      responses: {
        '201': { description: 'Created.', content: json(ref('schemas', 'ChannelDefinition')) },
        ...errs(['400', 'BadRequest'], ...auth, ['409', 'Conflict']),
      },
    },
  },
  '/api/realtime/channels/{id}': {
    parameters: [idParam],
    get: {
      operationId: 'getChannelDefinition',
      summary: 'Get a channel definition',
      tags: [TAG],
      responses: {
        '200': { description: 'The definition.', content: json(ref('schemas', 'ChannelDefinition')) },
        ...errs(...auth, ['404', 'NotFound']),
      },
    },
    patch: {
      operationId: 'updateChannelDefinition',
      summary: 'Update a channel definition',
      tags: [TAG],
      requestBody: { required: true, content: json(ref('schemas', 'ChannelDefinitionPatch')) },
      responses: {
        '200': { description: 'The definition.', content: json(ref('schemas', 'ChannelDefinition')) },
        ...errs(['400', 'BadRequest'], ...auth, ['404', 'NotFound'], ['409', 'Conflict']),
      },
    },
    delete: {
      operationId: 'deleteChannelDefinition',
      summary: 'Delete a channel definition',
      tags: [TAG],
      responses: { '204': { description: 'Deleted.' }, ...errs(...auth, ['404', 'NotFound']) },
    },
  },
}

/** The realtime admin routes (http/routes/realtime-channels.ts); the socket.io protocol is in docs/realtime.md. */
export function realtimeOpenApi(): OpenApiPart {
  return {
    paths: structuredClone(PATHS),
    schemas: structuredClone(SCHEMAS),
    tags: [
      {
        name: TAG,
        description:
          'Channel definitions. The socket.io protocol at `/realtime` is described in docs/realtime.md.',
      },
    ],
    // Defining channels needs the schema scope (http/routes/realtime-channels.ts).
    adminOnly: [
      'listChannelDefinitions',
      'createChannelDefinition',
      'getChannelDefinition',
      'updateChannelDefinition',
      'deleteChannelDefinition',
    ],
  }
}
