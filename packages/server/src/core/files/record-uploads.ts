import { randomUUID } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import busboy from 'busboy'
import { AppError, errors } from '../../errors/index.ts'
import { type Collection, isMultiple } from '../collections/types.ts'
import type { ObjectInfo, ObjectsService } from './objects.ts'

/** Largest `@json` part, in bytes. */
export const MAX_RECORD_JSON_BYTES = 1024 * 1024
/** Most files in one record write. */
export const MAX_RECORD_FILES = 100

export interface RecordUpload {
  readonly field: string
  readonly bucket: string
  readonly key: string
  readonly filename: string
  readonly info: ObjectInfo
}

export interface RecordForm {
  /** The `@json` (or `data`) part, parsed; undefined when the form has none. */
  readonly data: Record<string, unknown> | undefined
  /** The files, stored, in the order they came. */
  readonly uploads: readonly RecordUpload[]
}

/** `<collection>/<record id>/<field>/<uuid>-<name>`: a fresh key per upload; the client's name, tamed. */
export function uploadKey(collection: string, recordId: string, field: string, filename: string): string {
  const safe =
    filename
      .normalize('NFC')
      .replace(/[^\p{L}\p{N}._-]+/gu, '_')
      .replace(/^[._]+/, '')
      .slice(0, 100) || 'file'
  return `${collection}/${recordId}/${field}/${randomUUID()}-${safe}`
}

/**
 * Reads a record write sent as `multipart/form-data`: first a part named `@json` (or `data`) with the
 * record as JSON, then file parts named after the collection's file fields (several with the same name for
 * a multiple field). Files are stored one after the other as they stream in (memory stays bounded: busboy
 * waits while an upload reads), each into its field's bucket under `uploadKey`, owned by `owner`, through
 * the internal write path (the bucket's size limit and MIME allow-list apply, its write rule does not: the
 * record's rules govern). On any failure, what was stored is deleted (`discard`) before the error is thrown;
 * the rest of the body is drained so that the answer reaches the client.
 *
 * @example
 * const { data, uploads } = await readRecordForm(
 *   { objects, discard },
 *   { headers, body },
 *   { collection, recordId: () => id, owner: user.id, writeHidden: false },
 * )
 */
export function readRecordForm(
  deps: { objects: ObjectsService; discard: (uploads: readonly RecordUpload[]) => Promise<void> },
  req: { headers: Record<string, string>; body: Readable },
  o: {
    collection: Collection
    /** The record's id, asked once the JSON part (which may carry one) has been read. */
    recordId: (data: Record<string, unknown> | undefined) => string
    owner: string | null
    /** Admins and keys may set hidden fields (files included); other callers may not. */
    writeHidden: boolean
  },
): Promise<RecordForm> {
  const contentType = req.headers['content-type'] ?? ''
  let parser: busboy.Busboy
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      defParamCharset: 'utf8',
      limits: { files: MAX_RECORD_FILES, fields: 1, fieldSize: MAX_RECORD_JSON_BYTES },
    })
  } catch (e) {
    return Promise.reject(
      new AppError('BAD_REQUEST', 'The multipart Content-Type has no boundary.', undefined, { cause: e }),
    )
  }
  const { collection } = o

  return new Promise<RecordForm>((resolve, reject) => {
    let data: Record<string, unknown> | undefined
    let recordId: string | undefined
    let sawFile = false
    const counts = new Map<string, number>()
    const uploads: RecordUpload[] = []
    let problem: unknown
    let settled = false
    /** The stream the upload in progress reads. */
    let current: PassThrough | undefined
    // Files are stored one at a time, in order.
    let queue: Promise<void> = Promise.resolve()

    const settle = () => {
      if (settled) return
      settled = true
      if (problem === undefined) resolve({ data, uploads })
      else
        deps
          .discard(uploads)
          .catch(() => {})
          .then(() => reject(problem))
    }
    /** The first problem wins; answer as soon as the upload in progress (if any) has stopped. */
    const fail = (e: unknown) => {
      if (problem !== undefined) return
      problem = e
      // Whatever is being stored now would be discarded: stop it (an aborted request would never end it).
      current?.destroy()
      void queue.then(settle)
    }

    parser.on('field', (name, value, info) => {
      if (problem !== undefined) return
      if (name !== '@json' && name !== 'data')
        return fail(
          errors.badRequest(
            `Unexpected form field '${name}': send the record as JSON in a part named @json.`,
          ),
        )
      if (sawFile) return fail(errors.badRequest('Send the @json part before the files.'))
      if (info.valueTruncated) return fail(errors.payloadTooLarge(MAX_RECORD_JSON_BYTES))
      try {
        const parsed: unknown = JSON.parse(value)
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
          return fail(errors.badRequest('The @json part must be a JSON object.'))
        data = parsed as Record<string, unknown>
      } catch {
        fail(errors.badRequest('The @json part is not valid JSON.'))
      }
    })
    parser.on('fieldsLimit', () => fail(errors.badRequest('Send one @json part.')))
    parser.on('filesLimit', () => fail(errors.badRequest(`At most ${MAX_RECORD_FILES} files per write.`)))
    parser.on('file', (name, file, info) => {
      sawFile = true
      if (problem !== undefined) {
        file.resume()
        return
      }
      const f = collection.fields.find((x) => x.name === name)
      const n = (counts.get(name) ?? 0) + 1
      counts.set(name, n)
      if (f?.type !== 'file') {
        file.resume()
        return fail(
          errors.validation({ [name]: { code: 'unknown', message: 'No file field has this name.' } }),
        )
      }
      if (n > 1 && !isMultiple(f)) {
        file.resume()
        return fail(
          errors.validation({ [name]: { code: 'too_many', message: 'This field holds one file.' } }),
        )
      }
      if (f.system || (f.hidden && !o.writeHidden)) {
        file.resume()
        return fail(
          errors.validation({ [name]: { code: 'read_only', message: 'This field cannot be set.' } }),
        )
      }
      recordId ??= o.recordId(data)
      const id = recordId
      // The upload reads from `out`; should it stop early (limit, refused type), `file` is drained instead.
      const out = new PassThrough()
      out.on('error', () => {})
      out.once('close', () => {
        file.unpipe(out)
        file.resume()
      })
      file.pipe(out)
      queue = queue.then(async () => {
        if (problem !== undefined) {
          out.destroy()
          return
        }
        const key = uploadKey(collection.name, id, f.name, info.filename ?? '')
        current = out
        try {
          const stored = await deps.objects.upload(
            f.options.bucket!,
            key,
            { body: out, declaredType: info.mimeType },
            { kind: 'signed', owner: o.owner },
          )
          uploads.push({
            field: f.name,
            bucket: f.options.bucket!,
            key,
            filename: info.filename ?? '',
            info: stored,
          })
        } catch (e) {
          out.destroy()
          fail(e)
        } finally {
          current = undefined
        }
      })
    })
    parser.on('error', (e) =>
      fail(new AppError('BAD_REQUEST', 'The multipart body is malformed.', undefined, { cause: e })),
    )
    parser.on('close', () => void queue.then(settle))
    req.body.on('error', (e) =>
      fail(new AppError('BAD_REQUEST', 'The upload was interrupted.', undefined, { cause: e })),
    )
    req.body.pipe(parser)
  })
}

/** Uploaded keys by field, in upload order (what `records.create/update` take as `uploads`). */
export function uploadsByField(uploads: readonly RecordUpload[]): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const u of uploads) (out[u.field] ??= []).push(u.key)
  return out
}
