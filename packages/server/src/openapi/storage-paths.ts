import { bucketInput, bucketPatch } from '../core/files/buckets.ts'
import { MAX_PER_PAGE } from '../core/files/objects.ts'
import { MAX_TRANSFORM_DIMENSION, TRANSFORM_FITS, TRANSFORM_FORMATS } from '../core/files/transform-image.ts'
import { copyObjectInput, signedUrlInput } from '../http/routes/storage.ts'
import type { OpenApiPart } from './auth-paths.ts'
import { zodSchema } from './zod-schema.ts'

type Obj = Record<string, unknown>

const TAG = 'Storage'
const schema = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` })
const response = (name: string): Obj => ({ $ref: `#/components/responses/${name}` })
const json = (s: Obj): Obj => ({ 'application/json': { schema: s } })
const errors = (...names: string[]): Obj =>
  Object.fromEntries(
    names.map((n) => [
      {
        BadRequest: '400',
        Unauthorized: '401',
        Forbidden: '403',
        NotFound: '404',
        Conflict: '409',
        PayloadTooLarge: '413',
        UnsupportedMediaType: '415',
        RateLimited: '429',
        Unavailable: '503',
      }[n]!,
      response(n),
    ]),
  )
const ok = (status: string, description: string, body?: Obj): Obj => ({
  [status]: { description, ...(body ? { content: json(body) } : {}) },
})
const path = (name: string, description: string, s: Obj = { type: 'string' }): Obj => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: s,
})
const q = (name: string, description: string, s: Obj): Obj => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: s,
})
const h = (name: string, description: string): Obj => ({
  name,
  in: 'header',
  required: false,
  description,
  schema: { type: 'string' },
})

const bucketParam = path('bucket', 'The bucket name.', {
  type: 'string',
  pattern: '^[a-z0-9][a-z0-9_-]{1,62}$',
})
const keyParam = path(
  'key',
  'The object key; it may contain `/` (sent as is, each segment percent-encoded). Empty, `.` and `..` segments, backslashes and control characters are refused.',
)
const tokenParam = q(
  'token',
  'A signed URL token (see signed-urls): grants this one operation on this object.',
  {
    type: 'string',
  },
)

const rule = {
  type: ['string', 'null'],
  description: '`null`: locked (admins and keys only); `""`: everyone.',
}
// The response's fields; what a client sends is the routes' zod schemas (the *Input components).
const bucketFields: Obj = {
  name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{1,62}$' },
  public: { type: 'boolean', description: 'Anyone may read its objects, and caches may keep them.' },
  maxFileSize: {
    type: ['integer', 'null'],
    minimum: 1,
    description: "Bytes; null: the server's limit (BASTIDE_STORAGE_MAX_FILE_SIZE).",
  },
  allowedMimeTypes: {
    type: 'array',
    items: { type: 'string' },
    description:
      'Types of the bytes as sniffed, exact or `type/*`; empty: any. Wildcards never admit active content (SVG, HTML...): list it by name to allow it.',
  },
  rules: {
    type: 'object',
    description:
      'Filter expressions over the object (`key`, `size`, `mimeType`, `owner`, `metadata`) and `@request.auth.*`. A rule left out is locked.',
    properties: { read: rule, write: rule, delete: rule },
    additionalProperties: false,
  },
}

const SCHEMAS: Obj = {
  Bucket: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      ...bucketFields,
      created: { type: 'string', format: 'date-time' },
      updated: { type: 'string', format: 'date-time' },
    },
    required: ['id', 'name', 'public', 'maxFileSize', 'allowedMimeTypes', 'rules', 'created', 'updated'],
  },
  BucketInput: zodSchema(bucketInput),
  BucketPatch: zodSchema(bucketPatch),
  BucketList: {
    type: 'object',
    properties: { items: { type: 'array', items: schema('Bucket') } },
    required: ['items'],
  },
  StorageObject: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      bucket: { type: 'string' },
      key: { type: 'string' },
      size: { type: 'integer' },
      sha256: { type: 'string', description: 'Hex SHA-256 of the bytes; the ETag is this value, quoted.' },
      mimeType: { type: 'string', description: 'Sniffed from the bytes, not taken from the client.' },
      owner: { type: ['string', 'null'], format: 'uuid', description: 'The user who uploaded it.' },
      metadata: { type: 'object', additionalProperties: true },
      created: { type: 'string', format: 'date-time' },
      updated: { type: 'string', format: 'date-time' },
      version: { type: 'integer', description: '1 when created, +1 on each overwrite.' },
    },
    required: [
      'id',
      'bucket',
      'key',
      'size',
      'sha256',
      'mimeType',
      'owner',
      'metadata',
      'created',
      'updated',
      'version',
    ],
  },
  StorageObjectList: {
    type: 'object',
    properties: {
      items: { type: 'array', items: schema('StorageObject') },
      perPage: { type: 'integer' },
      nextCursor: { type: ['string', 'null'], description: 'Pass as `after` for the next page.' },
    },
    required: ['items', 'perPage', 'nextCursor'],
  },
  SignedUrlInput: zodSchema(signedUrlInput),
  SignedUrl: {
    type: 'object',
    properties: {
      url: { type: 'string', format: 'uri' },
      method: { type: 'string', enum: ['GET', 'PUT'] },
      expiresAt: { type: 'string', format: 'date-time' },
    },
    required: ['url', 'method', 'expiresAt'],
  },
  CopyObjectInput: zodSchema(copyObjectInput),
}

const binary = { type: 'string', format: 'binary' }

const PATHS: Obj = {
  '/api/storage/buckets': {
    get: {
      operationId: 'listBuckets',
      summary: 'List buckets',
      tags: [TAG],
      description: 'Console admins and API keys with the `schema` scope.',
      responses: {
        ...ok('200', 'The buckets.', schema('BucketList')),
        ...errors('Unauthorized', 'Forbidden'),
      },
    },
    post: {
      operationId: 'createBucket',
      summary: 'Create a bucket',
      tags: [TAG],
      description: 'Console admins and API keys with the `schema` scope.',
      requestBody: { required: true, content: json(schema('BucketInput')) },
      responses: {
        ...ok('201', 'Created.', schema('Bucket')),
        ...errors('BadRequest', 'Unauthorized', 'Forbidden', 'Conflict'),
      },
    },
  },
  '/api/storage/buckets/{bucket}': {
    parameters: [bucketParam],
    get: {
      operationId: 'getBucket',
      summary: 'Get a bucket',
      tags: [TAG],
      responses: {
        ...ok('200', 'The bucket.', schema('Bucket')),
        ...errors('Unauthorized', 'Forbidden', 'NotFound'),
      },
    },
    patch: {
      operationId: 'updateBucket',
      summary: 'Update a bucket',
      tags: [TAG],
      requestBody: { required: true, content: json(schema('BucketPatch')) },
      responses: {
        ...ok('200', 'The bucket.', schema('Bucket')),
        ...errors('BadRequest', 'Unauthorized', 'Forbidden', 'NotFound', 'Conflict'),
      },
    },
    delete: {
      operationId: 'deleteBucket',
      summary: 'Delete an empty bucket',
      tags: [TAG],
      description: '409 while the bucket holds objects.',
      responses: { ...ok('204', 'Deleted.'), ...errors('Unauthorized', 'Forbidden', 'NotFound', 'Conflict') },
    },
  },
  '/api/storage/buckets/{bucket}/objects': {
    parameters: [bucketParam],
    get: {
      operationId: 'listObjects',
      summary: 'List objects',
      tags: [TAG],
      description: "In key order; only the objects the bucket's read rule lets the caller see.",
      parameters: [
        q('prefix', 'Only keys starting with this.', { type: 'string' }),
        q('after', 'The `nextCursor` of the previous page.', { type: 'string' }),
        q('perPage', `At most ${MAX_PER_PAGE}.`, {
          type: 'integer',
          minimum: 1,
          maximum: MAX_PER_PAGE,
          default: 100,
        }),
      ],
      responses: {
        ...ok('200', 'A page of objects.', schema('StorageObjectList')),
        ...errors('BadRequest', 'NotFound'),
      },
    },
    post: {
      operationId: 'uploadObjectForm',
      summary: 'Upload an object (multipart/form-data)',
      tags: [TAG],
      description:
        'Fields first (`key`, default the file name; `metadata`, JSON), then the file part. Streamed; the size limit is enforced as bytes arrive.',
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              properties: { key: { type: 'string' }, metadata: { type: 'string' }, file: binary },
              required: ['file'],
            },
          },
        },
      },
      responses: {
        ...ok('201', 'Created.', schema('StorageObject')),
        ...ok('200', 'Replaced an existing object.', schema('StorageObject')),
        ...errors(
          'BadRequest',
          'Unauthorized',
          'Forbidden',
          'NotFound',
          'PayloadTooLarge',
          'UnsupportedMediaType',
        ),
      },
    },
  },
  '/api/storage/buckets/{bucket}/objects/{key}': {
    parameters: [bucketParam, keyParam],
    put: {
      operationId: 'uploadObject',
      summary: 'Upload an object (raw body)',
      tags: [TAG],
      description:
        'The body is the file, streamed. The type is sniffed from the bytes; `Content-Type` is only a hint. Visible once complete; an existing object is replaced atomically.',
      parameters: [h('X-Bastide-Metadata', 'Custom metadata, a JSON object (at most 8 KB).'), tokenParam],
      requestBody: { required: true, content: { '*/*': { schema: binary } } },
      responses: {
        ...ok('201', 'Created.', schema('StorageObject')),
        ...ok('200', 'Replaced an existing object.', schema('StorageObject')),
        ...errors(
          'BadRequest',
          'Unauthorized',
          'Forbidden',
          'NotFound',
          'PayloadTooLarge',
          'UnsupportedMediaType',
        ),
      },
    },
    get: {
      operationId: 'downloadObject',
      summary: 'Download an object',
      tags: [TAG],
      description:
        'Streamed, with `Range` (206), `ETag`/`If-None-Match` (304), `Last-Modified`. Active content (HTML, SVG, scripts, PDF) is served as a sandboxed attachment. Image parameters return a cached variant.',
      parameters: [
        h('Range', 'One byte range: `bytes=0-99`, `bytes=100-`, `bytes=-100`.'),
        h('If-None-Match', 'An earlier ETag.'),
        h('If-Range', 'Serve the range only if the ETag still matches.'),
        q('width', 'Resize to this width (images).', {
          type: 'integer',
          minimum: 1,
          maximum: MAX_TRANSFORM_DIMENSION,
        }),
        q('height', 'Resize to this height (images).', {
          type: 'integer',
          minimum: 1,
          maximum: MAX_TRANSFORM_DIMENSION,
        }),
        q('fit', 'How to fit both dimensions.', {
          type: 'string',
          enum: [...TRANSFORM_FITS],
          default: 'cover',
        }),
        q('format', 'Output format.', { type: 'string', enum: [...TRANSFORM_FORMATS] }),
        q('quality', 'Output quality.', { type: 'integer', minimum: 1, maximum: 100 }),
        q('download', 'Present: served as an attachment.', { type: 'string' }),
        tokenParam,
      ],
      responses: {
        '200': { description: 'The bytes.', content: { '*/*': { schema: binary } } },
        '206': { description: 'The requested range.', content: { '*/*': { schema: binary } } },
        '304': { description: 'Not modified.' },
        '416': { description: 'The range is outside the object.' },
        ...errors('BadRequest', 'Forbidden', 'NotFound', 'Unavailable'),
        '422': {
          description:
            'UNPROCESSABLE_IMAGE: a transformation of a corrupt image, or of one with too many pixels.',
          content: json(schema('Error')),
        },
      },
    },
    head: {
      operationId: 'headObject',
      summary: "An object's headers",
      tags: [TAG],
      parameters: [tokenParam],
      responses: { '200': { description: 'Headers only.' }, ...errors('NotFound') },
    },
    delete: {
      operationId: 'deleteObject',
      summary: 'Delete an object',
      tags: [TAG],
      responses: { ...ok('204', 'Deleted.'), ...errors('Forbidden', 'NotFound') },
    },
  },
  '/api/storage/buckets/{bucket}/signed-urls': {
    parameters: [bucketParam],
    post: {
      operationId: 'createSignedUrl',
      summary: 'Create a signed URL',
      tags: [TAG],
      description:
        'An expiring URL for one operation (read: GET, write: PUT) on one object, usable without credentials. Only what the caller may do itself can be signed.',
      requestBody: { required: true, content: json(schema('SignedUrlInput')) },
      responses: {
        ...ok('201', 'The URL.', schema('SignedUrl')),
        ...errors('BadRequest', 'Forbidden', 'NotFound'),
      },
    },
  },
  ...Object.fromEntries(
    (['copy', 'move'] as const).map((op) => [
      `/api/storage/buckets/{bucket}/${op}`,
      {
        parameters: [bucketParam],
        post: {
          operationId: `${op}Object`,
          summary: op === 'copy' ? 'Copy an object' : 'Move an object',
          tags: [TAG],
          description:
            op === 'copy'
              ? 'Needs read on the source and write on the destination.'
              : 'Needs read and delete on the source and write on the destination.',
          requestBody: { required: true, content: json(schema('CopyObjectInput')) },
          responses: {
            ...ok('201', 'The new object.', schema('StorageObject')),
            ...errors('BadRequest', 'Forbidden', 'NotFound', 'PayloadTooLarge', 'UnsupportedMediaType'),
          },
        },
      },
    ]),
  ),
}

const tusHeader = (name: string, description: string, required = false): Obj => ({
  name,
  in: 'header',
  required,
  description,
  schema: { type: 'string' },
})
const TUS_RESUMABLE = tusHeader('Tus-Resumable', 'Always `1.0.0`.', true)

Object.assign(PATHS, {
  '/api/storage/uploads': {
    post: {
      operationId: 'createResumableUpload',
      summary: 'Start a resumable upload (tus 1.0)',
      tags: [TAG],
      description:
        "tus creation: `Upload-Metadata` carries `bucket`, `key`, optional `contentType` and `metadata` (JSON), base64 as tus wants. Checked against the bucket's write rule and size limit at once. Signed-in callers only; the same caller alone may continue it.",
      parameters: [
        TUS_RESUMABLE,
        tusHeader('Upload-Length', 'Total size in bytes (deferred length is not supported).', true),
        tusHeader(
          'Upload-Metadata',
          'tus metadata: `bucket <b64>,key <b64>[,contentType <b64>][,metadata <b64>]`.',
          true,
        ),
      ],
      responses: {
        '201': { description: 'Created; `Location` is the upload URL.' },
        ...errors('BadRequest', 'Unauthorized', 'Forbidden', 'NotFound', 'PayloadTooLarge'),
      },
    },
  },
  '/api/storage/uploads/{id}': {
    parameters: [path('id', 'The upload id (from `Location`).')],
    head: {
      operationId: 'getResumableUploadOffset',
      summary: 'How much of a resumable upload is stored',
      tags: [TAG],
      parameters: [TUS_RESUMABLE],
      responses: { '200': { description: '`Upload-Offset` and `Upload-Length`.' }, ...errors('NotFound') },
    },
    patch: {
      operationId: 'appendResumableUpload',
      summary: 'Send the next bytes of a resumable upload',
      tags: [TAG],
      description:
        'From `Upload-Offset` on. The request that completes the upload commits the object (rules, limit and type checked again against the bytes) and returns it in the `Bastide-Object` header (JSON, percent-encoded).',
      parameters: [TUS_RESUMABLE, tusHeader('Upload-Offset', 'Where these bytes start.', true)],
      requestBody: { required: true, content: { 'application/offset+octet-stream': { schema: binary } } },
      responses: {
        '204': { description: 'Stored; `Upload-Offset` is the new offset.' },
        ...errors(
          'BadRequest',
          'Forbidden',
          'NotFound',
          'Conflict',
          'PayloadTooLarge',
          'UnsupportedMediaType',
        ),
      },
    },
    delete: {
      operationId: 'cancelResumableUpload',
      summary: 'Cancel a resumable upload',
      tags: [TAG],
      parameters: [TUS_RESUMABLE],
      responses: { '204': { description: 'Cancelled.' }, ...errors('NotFound') },
    },
  },
  '/api/collections/{name}/records/{id}/files/{field}/{key}': {
    parameters: [
      path('name', 'The collection.'),
      path('id', 'The record id.', { type: 'string', format: 'uuid' }),
      path('field', 'A `file` field of the collection.'),
      keyParam,
    ],
    get: {
      operationId: 'downloadRecordFile',
      summary: 'Download a file attached to a record',
      tags: [TAG],
      description:
        "Under the record's view rule (not the bucket's read rule): the key must be one of the field's values on that record. Same headers, ranges and image parameters as object downloads.",
      responses: {
        '200': { description: 'The bytes.', content: { '*/*': { schema: binary } } },
        '206': { description: 'The requested range.', content: { '*/*': { schema: binary } } },
        '304': { description: 'Not modified.' },
        ...errors('BadRequest', 'NotFound'),
      },
    },
  },
})

/** The storage routes (http/routes/storage.ts, storage-uploads.ts, record-files.ts), for /api/openapi.json. */
export function storageOpenApi(): OpenApiPart {
  return {
    paths: structuredClone(PATHS),
    schemas: structuredClone(SCHEMAS),
    tags: [{ name: TAG, description: 'Buckets and their objects: uploads, downloads, signed URLs.' }],
    // Managing buckets needs the schema scope (http/routes/storage.ts); objects follow each bucket's rules.
    adminOnly: ['listBuckets', 'createBucket', 'getBucket', 'updateBucket', 'deleteBucket'],
  }
}
