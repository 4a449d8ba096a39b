import { PassThrough, type Readable } from 'node:stream'
import busboy from 'busboy'
import { AppError, errors } from '../../errors/index.ts'

/** Largest text field, in bytes: fields carry a key or a small metadata JSON, never content. */
export const MAX_FIELD_BYTES = 64 * 1024

export interface MultipartUpload {
  /** The text fields sent before the file part. */
  readonly fields: Readonly<Record<string, string>>
  readonly file: {
    /** The file's bytes, unbuffered; errors with 413 PAYLOAD_TOO_LARGE past `maxFileSize`. */
    readonly stream: Readable
    /** As sent by the client (untrusted: use it for Content-Disposition, never as a path). */
    readonly filename: string
    /** The part's Content-Type as sent by the client (untrusted: sniff it). */
    readonly declaredType: string
  }
}

/**
 * Reads a `multipart/form-data` upload up to the start of its first file part and hands that part over as
 * a stream, without buffering it.
 *
 * Fields must come before the file: the promise resolves as soon as the file starts, so later fields are
 * ignored, and so are further files. Duplicate field names are refused (which one would win is ambiguous).
 *
 * @throws AppError 415 UNSUPPORTED_MEDIA_TYPE if the body is not multipart/form-data; 400 BAD_REQUEST for a
 * malformed body, no file part, too many fields, a duplicate field or one over MAX_FIELD_BYTES.
 *
 * @example
 * const { fields, file } = await parseMultipartUpload({ headers, body }, { maxFileSize: 5 << 20, maxFields: 10 })
 * const { mimeType, stream } = await sniffContentType(file.stream, file.declaredType)
 */
export function parseMultipartUpload(
  req: { headers: Record<string, string>; body: Readable },
  opts: { maxFileSize: number; maxFields: number },
): Promise<MultipartUpload> {
  const contentType = req.headers['content-type'] ?? ''
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    return Promise.reject(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the upload as multipart/form-data.'))
  }
  let parser: busboy.Busboy
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // Browsers send raw UTF-8 file names; busboy would read them as latin1.
      defParamCharset: 'utf8',
      limits: { files: 1, fields: opts.maxFields, fieldSize: MAX_FIELD_BYTES, fileSize: opts.maxFileSize },
    })
  } catch (e) {
    // busboy throws when the boundary is missing.
    return Promise.reject(
      new AppError('BAD_REQUEST', 'The multipart Content-Type has no boundary.', undefined, { cause: e }),
    )
  }

  return new Promise<MultipartUpload>((resolve, reject) => {
    const fields: Record<string, string> = {}
    let output: PassThrough | undefined
    let problem: AppError | undefined
    // Before the file: reject the promise; after it: fail the file stream the caller is reading.
    const fail = (e: AppError) => {
      if (output) output.destroy(e)
      else reject(e)
    }

    parser.on('field', (name, value, info) => {
      if (output || problem) return
      if (info.valueTruncated || info.nameTruncated) {
        problem = errors.badRequest(`The field '${name}' exceeds ${MAX_FIELD_BYTES} bytes.`, { field: name })
      } else if (Object.hasOwn(fields, name)) {
        problem = errors.badRequest(`The field '${name}' is sent twice.`, { field: name })
      } else fields[name] = value
      // Answer now; busboy keeps draining the rest of the body so that the response can be sent.
      if (problem) reject(problem)
    })
    parser.on('fieldsLimit', () => {
      if (output || problem) return
      problem = errors.badRequest(`At most ${opts.maxFields} fields are allowed.`)
      reject(problem)
    })
    parser.on('file', (_name, file, info) => {
      if (problem || output) {
        file.resume()
        return
      }
      const out = new PassThrough()
      output = out
      // The limit can be hit before the caller has attached its listeners; the error stays on
      // `out.errored`, which pipeline() and async iteration still report, instead of crashing the process.
      out.on('error', () => {})
      file.on('limit', () => {
        out.destroy(
          new AppError('PAYLOAD_TOO_LARGE', `The file exceeds ${opts.maxFileSize} bytes.`, {
            limit: opts.maxFileSize,
          }),
        )
      })
      // If the caller stops reading (a limit, a refused type), keep draining so the request can complete.
      out.once('close', () => {
        file.unpipe(out)
        file.resume()
      })
      file.pipe(out)
      resolve({ fields, file: { stream: out, filename: info.filename ?? '', declaredType: info.mimeType } })
    })
    parser.on('error', (e) =>
      fail(new AppError('BAD_REQUEST', 'The multipart body is malformed.', undefined, { cause: e })),
    )
    parser.on('close', () => {
      if (!output) reject(problem ?? errors.badRequest('The multipart body has no file part.'))
    })
    req.body.on('error', (e) =>
      fail(new AppError('BAD_REQUEST', 'The upload was interrupted.', undefined, { cause: e })),
    )
    req.body.pipe(parser)
  })
}
