import { checkRuleInput } from '../../core/collections/check-rule.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodSchema } from '../../openapi/zod-schema.ts'

const err = (name: string) => ({ $ref: `#/components/responses/${name}` })

/** POST /api/collections/check-rule (schema administration: absent from the public document). */
export function coreOpenApi(): OpenApiPart {
  return {
    tags: [],
    paths: {
      '/api/collections/check-rule': {
        post: {
          operationId: 'checkCollectionRule',
          summary: 'Check a rule against a draft collection',
          description:
            'Parses and binds the rule as saving the collection would, against the draft fields and the live collections. ' +
            'A rule that would be refused answers 400 INVALID_FILTER with `details.position` (0-based offset into the rule). ' +
            'Console admins and API keys with the `schema` scope.',
          tags: ['Collections'],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: zodSchema(checkRuleInput) } },
          },
          responses: {
            '200': {
              description: 'The rule is valid.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { ok: { type: 'boolean', const: true } },
                    required: ['ok'],
                  },
                },
              },
            },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
            '415': err('UnsupportedMediaType'),
          },
        },
      },
    },
    schemas: {},
    adminOnly: ['checkCollectionRule'],
  }
}
