import { z } from 'zod'
import { ban, createUser, impersonate, paging, setupInput } from '../../http/routes/admin-users.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters, zodSchema } from '../../openapi/zod-schema.ts'

const SETUP = 'Console setup'
const USERS = 'App users (console)'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const json = (schema: object) => ({ 'application/json': { schema } })
const user = { $ref: '#/components/schemas/AdminUserView' }
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
  description: "The user's id.",
}
const refused = { '400': err('BadRequest'), '401': err('Unauthorized'), '403': err('Forbidden') }
const listQuery = paging.extend({ search: z.string().optional().describe('Matches email, name or id.') })

/** An operation on one user answering the user. */
function onUser(operationId: string, summary: string, extra: object = {}) {
  return {
    operationId,
    summary,
    tags: [USERS],
    parameters: [idParam],
    ...extra,
    responses: {
      '200': { description: 'The user.', content: json(user) },
      ...refused,
      '404': err('NotFound'),
    },
  }
}

/** /api/admin/setup and /api/admin/users in the API document (console admins only: absent from the public one). */
export function adminUsersOpenApi(): OpenApiPart {
  return {
    tags: [
      {
        name: SETUP,
        description: 'The first console admin, created once with the setup token from the log.',
      },
      { name: USERS, description: 'App users as console admins manage them; every change is audited.' },
    ],
    paths: {
      '/api/admin/setup': {
        get: {
          operationId: 'consoleSetupNeeded',
          summary: 'Whether the server still waits for its first console admin',
          tags: [SETUP],
          responses: {
            '200': {
              description: '`needed` is true until the first admin exists.',
              content: json({
                type: 'object',
                properties: { needed: { type: 'boolean' } },
                required: ['needed'],
              }),
            },
          },
        },
        post: {
          operationId: 'createFirstConsoleAdmin',
          summary: 'Create the first console admin (setup token or admin key); refused once one exists',
          tags: [SETUP],
          requestBody: { required: true, content: json(zodSchema(setupInput)) },
          responses: {
            '201': {
              description: 'The admin.',
              content: json({ $ref: '#/components/schemas/ConsoleAdmin' }),
            },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '409': err('Conflict'),
          },
        },
      },
      '/api/admin/users': {
        get: {
          operationId: 'consoleListUsers',
          summary: 'List app users, newest first',
          tags: [USERS],
          parameters: zodQueryParameters(listQuery),
          responses: {
            '200': {
              description: 'A page of users.',
              content: json({
                type: 'object',
                properties: {
                  items: { type: 'array', items: user },
                  page: { type: 'integer' },
                  perPage: { type: 'integer' },
                  totalItems: { type: 'integer' },
                  totalPages: { type: 'integer' },
                },
                required: ['items', 'page', 'perPage', 'totalItems', 'totalPages'],
              }),
            },
            ...refused,
          },
        },
        post: {
          operationId: 'consoleCreateUser',
          summary: 'Create an app user with a password (audited as user.create)',
          tags: [USERS],
          requestBody: { required: true, content: json(zodSchema(createUser)) },
          responses: {
            '201': { description: 'The user.', content: json(user) },
            ...refused,
            '409': err('Conflict'),
          },
        },
      },
      '/api/admin/users/{id}': {
        get: onUser('consoleGetUser', 'One app user, every column but secrets'),
        patch: onUser('consoleUpdateUser', "Change a user's profile fields (audited as user.update)", {
          requestBody: { required: true, content: json({ type: 'object', additionalProperties: true }) },
        }),
        delete: {
          operationId: 'consoleDeleteUser',
          summary: 'Delete a user and what their relations cascade to (audited as user.delete)',
          tags: [USERS],
          parameters: [idParam],
          responses: {
            '204': { description: 'Deleted.' },
            ...refused,
            '404': err('NotFound'),
            '409': err('Conflict'),
          },
        },
      },
      '/api/admin/users/{id}/delete-preview': {
        get: {
          operationId: 'consolePreviewUserDelete',
          summary: 'What deleting the user would take with them (writes nothing)',
          description:
            "Per relation to the user: records deleted, set to null or blocking (restrict), cascades of cascades included; the user's sessions, accounts and stored files.",
          tags: [USERS],
          parameters: [idParam],
          responses: {
            '200': {
              description: 'The preview.',
              content: json({ type: 'object', additionalProperties: true }),
            },
            ...refused,
            '404': err('NotFound'),
          },
        },
      },
      '/api/admin/users/{id}/verify': { post: onUser('consoleVerifyUser', "Mark the user's email verified") },
      '/api/admin/users/{id}/ban': {
        post: onUser('consoleBanUser', 'Ban the user (their sessions end at once), optionally until a time', {
          requestBody: { required: false, content: json(zodSchema(ban)) },
        }),
      },
      '/api/admin/users/{id}/unban': { post: onUser('consoleUnbanUser', 'Lift a ban') },
      '/api/admin/users/{id}/sessions': {
        get: {
          operationId: 'consoleListUserSessions',
          summary: "The user's live sessions",
          tags: [USERS],
          parameters: [idParam],
          responses: {
            '200': {
              description: 'Their sessions.',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: { type: 'object' } } },
              }),
            },
            ...refused,
            '404': err('NotFound'),
          },
        },
        delete: {
          operationId: 'consoleRevokeUserSessions',
          summary: 'End every session of the user (audited as user.sessions.revoke)',
          tags: [USERS],
          parameters: [idParam],
          responses: {
            '200': {
              description: 'How many ended.',
              content: json({
                type: 'object',
                properties: { revoked: { type: 'integer' } },
                required: ['revoked'],
              }),
            },
            ...refused,
            '404': err('NotFound'),
          },
        },
      },
      '/api/admin/users/{id}/impersonate': {
        post: {
          operationId: 'consoleImpersonateUser',
          summary: 'A short-lived session acting as the user (audited as user.impersonate)',
          tags: [USERS],
          parameters: [idParam],
          requestBody: { required: false, content: json(zodSchema(impersonate)) },
          responses: {
            '201': { description: 'The session token and its expiry.', content: json({ type: 'object' }) },
            ...refused,
            '404': err('NotFound'),
          },
        },
      },
    },
    schemas: {
      AdminUserView: {
        type: 'object',
        description: 'An app user with every column the console sees (ban state included); never secrets.',
        properties: {
          id: { type: 'string', format: 'uuid' },
          email: { type: ['string', 'null'] },
          name: { type: ['string', 'null'] },
          verified: { type: 'boolean' },
          banned: { type: ['boolean', 'null'] },
          banReason: { type: ['string', 'null'] },
          banExpires: { type: ['string', 'null'], format: 'date-time' },
          created: { type: 'string', format: 'date-time' },
        },
        required: ['id'],
        additionalProperties: true,
      },
    },
    adminOnly: [
      'consoleSetupNeeded',
      'createFirstConsoleAdmin',
      'consoleListUsers',
      'consoleCreateUser',
      'consoleGetUser',
      'consoleUpdateUser',
      'consoleDeleteUser',
      'consolePreviewUserDelete',
      'consoleVerifyUser',
      'consoleBanUser',
      'consoleUnbanUser',
      'consoleListUserSessions',
      'consoleRevokeUserSessions',
      'consoleImpersonateUser',
    ],
  }
}
