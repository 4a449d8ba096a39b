import { settingsPatch, smtpTestInput } from '../../core/settings/schema.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodSchema } from '../../openapi/zod-schema.ts'

const TAG = 'Settings'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const json = (schema: object) => ({ 'application/json': { schema } })
const view = { $ref: '#/components/schemas/Settings' }

const field = (value: object) => ({
  type: 'object',
  properties: {
    value,
    source: { type: 'string', enum: ['env', 'database', 'default'] },
    locked: { type: 'boolean', description: 'Set by the environment, which wins: read-only.' },
    env: { type: 'string', description: 'The environment variable that can set it.' },
  },
  required: ['value', 'source', 'locked'],
})
const secret = { type: 'object', properties: { set: { type: 'boolean' } }, required: ['set'] }

/** /api/admin/settings in the API document (console admins only: absent from the public one). */
export function settingsOpenApi(): OpenApiPart {
  return {
    tags: [
      {
        name: TAG,
        description:
          'Runtime settings (SMTP, CORS, auth rate limit, sign-in methods, OAuth/OIDC providers), stored in the database; environment variables win. Secrets are write-only.',
      },
    ],
    paths: {
      '/api/admin/settings': {
        get: {
          operationId: 'getSettings',
          summary: 'Every runtime setting, its value in force and its source',
          tags: [TAG],
          responses: {
            '200': { description: 'The settings.', content: json(view) },
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
          },
        },
        patch: {
          operationId: 'updateSettings',
          summary: 'Change some settings (null: back to the default)',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(settingsPatch)) },
          responses: {
            '200': { description: 'The settings after the change.', content: json(view) },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
            '409': err('Conflict'),
          },
        },
      },
      '/api/admin/settings/smtp/test': {
        post: {
          operationId: 'testSmtp',
          summary: 'Send a test mail with the SMTP settings in force',
          tags: [TAG],
          requestBody: { required: true, content: json(zodSchema(smtpTestInput)) },
          responses: {
            '200': {
              description: 'The SMTP server accepted the mail.',
              content: json({
                type: 'object',
                properties: { sent: { type: 'boolean' }, to: { type: 'string' } },
                required: ['sent', 'to'],
              }),
            },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
          },
        },
      },
    },
    schemas: {
      Settings: {
        type: 'object',
        properties: {
          smtp: {
            type: 'object',
            properties: { url: field(secret), from: field({ type: 'string' }) },
          },
          cors: {
            type: 'object',
            properties: { origins: field({ type: 'array', items: { type: 'string' } }) },
          },
          rateLimits: { type: 'object', properties: { authPerMinute: field({ type: 'integer' }) } },
          auth: {
            type: 'object',
            properties: {
              methods: { type: 'object', additionalProperties: field({ type: 'boolean' }) },
            },
          },
          oauth: {
            type: 'object',
            properties: {
              providers: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    type: { type: 'string', enum: ['social', 'oidc'] },
                    clientId: { type: 'string' },
                    clientSecret: secret,
                    issuer: { type: 'string' },
                    scopes: { type: 'array', items: { type: 'string' } },
                    enabled: { type: 'boolean' },
                    source: { type: 'string', enum: ['env', 'database'] },
                    locked: { type: 'boolean' },
                    env: { type: 'string' },
                  },
                  required: [
                    'id',
                    'type',
                    'clientId',
                    'clientSecret',
                    'scopes',
                    'enabled',
                    'source',
                    'locked',
                  ],
                },
              },
              restartRequired: {
                type: 'boolean',
                description:
                  'Providers were added or reconfigured since this node started: that applies after a restart (enabling or disabling one applies at once).',
              },
            },
          },
        },
        required: ['smtp', 'cors', 'rateLimits', 'auth', 'oauth'],
      },
    },
    adminOnly: ['getSettings', 'updateSettings', 'testSmtp'],
  }
}
