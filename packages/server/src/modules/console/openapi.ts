import { adminsQuery, newAdminInput } from '../../http/routes/admin-admins.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters, zodSchema } from '../../openapi/zod-schema.ts'

const TAG = 'Console admins'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const json = (schema: object) => ({ 'application/json': { schema } })
const admin = { $ref: '#/components/schemas/ConsoleAdmin' }
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
  description: "The admin's id.",
}

/** /api/admin/admins in the API document (console admins only: absent from the public one). */
export function adminsOpenApi(): OpenApiPart {
  return {
    tags: [
      {
        name: TAG,
        description:
          'The people who may sign in to the console: list, add, remove (never oneself, never the last one).',
      },
    ],
    paths: {
      '/api/admin/admins': {
        get: {
          operationId: 'listConsoleAdmins',
          summary: 'List console admins, oldest first',
          tags: [TAG],
          parameters: zodQueryParameters(adminsQuery),
          responses: {
            '200': {
              description: 'A page of admins.',
              content: json({ $ref: '#/components/schemas/ConsoleAdminPage' }),
            },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
          },
        },
        post: {
          operationId: 'createConsoleAdmin',
          summary: 'Add a console admin with a password (audited as admin.create)',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(newAdminInput)) },
          responses: {
            '201': { description: 'The new admin.', content: json(admin) },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
            '409': err('Conflict'),
          },
        },
      },
      '/api/admin/admins/{id}': {
        get: {
          operationId: 'getConsoleAdmin',
          summary: 'One console admin',
          tags: [TAG],
          parameters: [idParam],
          responses: {
            '200': { description: 'The admin.', content: json(admin) },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
            '404': err('NotFound'),
          },
        },
        delete: {
          operationId: 'deleteConsoleAdmin',
          summary: 'Remove a console admin with their sessions, TOTP and passkeys (audited as admin.delete)',
          description:
            'Refused for your own account (400) and for the last admin (409), so that the console always has someone who can sign in.',
          tags: [TAG],
          parameters: [idParam],
          responses: {
            '204': { description: 'Deleted.' },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
            '404': err('NotFound'),
            '409': err('Conflict'),
          },
        },
      },
    },
    schemas: {
      ConsoleAdmin: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          email: { type: 'string' },
          name: { type: 'string' },
          twoFactorEnabled: { type: 'boolean' },
          passkeys: { type: 'integer', description: 'How many passkeys can sign them in.' },
          created: { type: 'string', format: 'date-time' },
          lastSignIn: {
            type: ['string', 'null'],
            format: 'date-time',
            description:
              'When they last signed in (password and code, or passkey); null when they never have.',
          },
        },
        required: ['id', 'email', 'name', 'twoFactorEnabled', 'passkeys', 'created', 'lastSignIn'],
      },
      ConsoleAdminPage: {
        type: 'object',
        properties: {
          items: { type: 'array', items: admin },
          page: { type: 'integer' },
          perPage: { type: 'integer' },
          totalItems: { type: 'integer' },
          totalPages: { type: 'integer' },
        },
        required: ['items', 'page', 'perPage', 'totalItems', 'totalPages'],
      },
    },
    adminOnly: ['listConsoleAdmins', 'createConsoleAdmin', 'getConsoleAdmin', 'deleteConsoleAdmin'],
  }
}
