import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { SCOPES } from '../core/auth/principal.ts'
import { definitionInput } from '../core/channels/channel-definitions.ts'
import { CHANNEL_PATTERN } from '../core/channels/channel-schema.ts'
import { bucketInput } from '../core/files/buckets.ts'
import { MAX_SIGNED_URL_SECONDS } from '../core/files/signed-url.ts'
import { batchInput } from '../http/parse-batch.ts'
import { keyInput } from '../http/routes/admin-keys.ts'
import { signedUrlInput } from '../http/routes/storage.ts'
import { buildOpenApi } from './build-openapi.ts'
import { realtimeOpenApi } from './realtime-paths.ts'
import { storageOpenApi } from './storage-paths.ts'

type Obj = Record<string, any>

const doc = buildOpenApi({
  collections: [],
  version: '1.0.0',
  parts: [storageOpenApi(), realtimeOpenApi()],
}) as Obj
/**
 * The document's schema as a validator of its own: zod reads JSON Schema back (`z.fromJSONSchema`), so
 * no JSON Schema library is needed. What it checks is the document's text, not the route's schema.
 */
const documented = (component: string): z.ZodType => z.fromJSONSchema(doc.components.schemas[component])

const rule = fc.oneof(fc.constant(null), fc.string({ maxLength: 40 }))
const someOf = <T extends Record<string, fc.Arbitrary<unknown>>>(model: T, required: (keyof T)[] = []) =>
  fc.record(model, { requiredKeys: required as never })
const isoDate = fc
  .date({ min: new Date('2000-01-01'), max: new Date('2999-12-31'), noInvalidDate: true })
  .map((d) => d.toISOString())

/** Bodies aimed at what each route accepts; the few the route refuses are dropped, not counted. */
const CASES: readonly (readonly [string, z.ZodType, fc.Arbitrary<unknown>])[] = [
  [
    'BucketInput',
    bucketInput,
    someOf(
      {
        name: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{1,62}$/),
        public: fc.boolean(),
        maxFileSize: fc.oneof(fc.constant(null), fc.integer({ min: 1 })),
        // Upper case too: the route's MIME check ignores case, so the document must not refuse it.
        allowedMimeTypes: fc.array(fc.constantFrom('image/png', 'IMAGE/*', '*', 'Text/Plain', 'video/*')),
        rules: someOf({ read: rule, write: rule, delete: rule }),
      },
      ['name'],
    ),
  ],
  [
    'SignedUrlInput',
    signedUrlInput,
    someOf(
      {
        key: fc.string({ minLength: 1 }),
        operation: fc.constantFrom('read', 'write'),
        expiresIn: fc.integer({ min: 1, max: MAX_SIGNED_URL_SECONDS }),
      },
      ['key'],
    ),
  ],
  [
    'ApiKeyInput',
    keyInput,
    someOf(
      {
        name: fc.string({ minLength: 1, maxLength: 100 }),
        scopes: fc.subarray([...SCOPES], { minLength: 1 }),
        expires: isoDate,
      },
      ['name', 'scopes'],
    ),
  ],
  [
    'ChannelDefinitionInput',
    definitionInput,
    someOf(
      {
        pattern: fc.stringMatching(CHANNEL_PATTERN),
        rules: someOf({ join: rule, send: rule }),
        presence: fc.boolean(),
      },
      ['pattern'],
    ),
  ],
  [
    'BatchRequest',
    batchInput,
    fc.record({
      requests: fc.array(
        someOf(
          {
            method: fc.constantFrom('POST', 'PATCH', 'DELETE'),
            path: fc.string({ maxLength: 60 }),
            body: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
            headers: someOf({ 'If-Match': fc.string({ maxLength: 5 }) }),
          },
          ['method', 'path'],
        ),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  ],
]

describe('the document accepts every body its route accepts', () => {
  it.each(CASES)('%s', (component, route, bodies) => {
    const schema = documented(component)
    fc.assert(
      fc.property(
        bodies.map((b) => JSON.parse(JSON.stringify(b)) as unknown),
        (body) => {
          fc.pre(route.safeParse(body).success)
          expect(schema.safeParse(body).error?.issues).toBeUndefined()
        },
      ),
      { numRuns: 200 },
    )
  })
})
