import { definitionInput, definitionPatch } from '../core/channels/channel-definitions.ts'
import type { OpenApiPart } from './auth-paths.ts'
import { zodSchema } from './zod-schema.ts'

type Obj = Record<string, unknown>

const TAG = 'Realtime'
const ref = (kind: 'schemas' | 'responses', name: string): Obj => ({ $ref: `#/components/${kind}/${name}` })
const json = (s: Obj): Obj => ({ 'application/json': { schema: s } })

/** What the fields mean, for the response schema and the request bodies alike. */
const PROSE = {
  pattern: 'An exact channel name, or a prefix ending in `*` (`room:*`); the most specific pattern wins.',
  rules:
    'Rule language over `name` (the channel), `param` (what `*` matched), `@request.auth.*` and `@collection.*`.',
  rule: '`null`: locked (admins and keys only); `""`: everyone.',
  presence: 'Keep presence for the channel (default true).',
} as const

/**
 * A request body: the route's zod schema (core/channels/channel-definitions.ts) with the prose above on
 * its properties. Only descriptions are added; every constraint is the one the route checks.
 */
function body(schema: Parameters<typeof zodSchema>[0]): Obj {
  const s = zodSchema(schema) as { properties: Record<string, Obj> }
  const { pattern, rules, presence } = s.properties
  if (pattern) pattern.description = PROSE.pattern
  if (presence) presence.description = PROSE.presence
  if (rules) {
    rules.description = PROSE.rules
    for (const r of Object.values((rules.properties ?? {}) as Record<string, Obj>)) r.description = PROSE.rule
  }
  return s
}
const errs = (...pairs: [string, string][]): Obj =>
  Object.fromEntries(pairs.map(([code, name]) => [code, ref('responses', name)]))
const rule = { type: ['string', 'null'], description: PROSE.rule }
const fields: Obj = {
  pattern: {
    type: 'string',
    pattern: '^[A-Za-z0-9:_./-]{1,200}\\*?$',
    description: PROSE.pattern,
  },
  rules: {
    type: 'object',
    description: PROSE.rules,
    properties: { join: rule, send: rule },
    additionalProperties: false,
  },
  presence: { type: 'boolean', description: PROSE.presence },
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
  ChannelDefinitionInput: body(definitionInput),
  ChannelDefinitionPatch: body(definitionPatch),
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
