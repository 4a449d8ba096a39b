import os from 'node:os'
import { Readable, Transform } from 'node:stream'
import sharp from 'sharp'
import { z } from 'zod'
import { AppError, errors } from '../../errors/index.ts'

export const TRANSFORM_FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const
export const TRANSFORM_FORMATS = ['webp', 'avif', 'jpeg', 'png'] as const
export const MAX_TRANSFORM_DIMENSION = 4096

export type TransformFit = (typeof TRANSFORM_FITS)[number]
export type TransformFormat = (typeof TRANSFORM_FORMATS)[number]

/** A validated image transformation, as asked for by `?width=&height=&fit=&format=&quality=`. */
export interface TransformParams {
  readonly width?: number
  readonly height?: number
  readonly fit: TransformFit
  /** Absent: keep the input's format when it is one of TRANSFORM_FORMATS, else PNG. */
  readonly format?: TransformFormat
  readonly quality?: number
}

const PARAM_NAMES = ['width', 'height', 'fit', 'format', 'quality'] as const

const wholeNumber = (max: number) =>
  z
    .string()
    .refine((s) => /^\d{1,5}$/.test(s) && Number(s) >= 1 && Number(s) <= max, {
      error: `A whole number from 1 to ${max}.`,
    })
    .transform(Number)

const paramsSchema = z.object({
  width: wholeNumber(MAX_TRANSFORM_DIMENSION).optional(),
  height: wholeNumber(MAX_TRANSFORM_DIMENSION).optional(),
  fit: z.enum(TRANSFORM_FITS, { error: `One of ${TRANSFORM_FITS.join(', ')}.` }).default('cover'),
  format: z.enum(TRANSFORM_FORMATS, { error: `One of ${TRANSFORM_FORMATS.join(', ')}.` }).optional(),
  quality: wholeNumber(100).optional(),
})

/**
 * Reads the transformation parameters of a query string. Other parameters are ignored.
 *
 * @returns undefined when the query asks for no transformation (serve the original).
 * @throws AppError VALIDATION_FAILED listing every bad parameter in `details.fields`.
 *
 * @example
 * parseTransformParams({ width: '100', format: 'webp' }) // → { width: 100, fit: 'cover', format: 'webp' }
 */
export function parseTransformParams(query: Record<string, string | undefined>): TransformParams | undefined {
  const picked = Object.fromEntries(
    PARAM_NAMES.filter((k) => query[k] !== undefined).map((k) => [k, query[k]]),
  )
  if (Object.keys(picked).length === 0) return undefined
  const parsed = paramsSchema.safeParse(picked)
  if (!parsed.success) {
    const fields: Record<string, { code: string; message: string }> = {}
    for (const issue of parsed.error.issues) {
      fields[String(issue.path[0])] ??= { code: 'invalid', message: issue.message }
    }
    throw errors.validation(fields)
  }
  const { width, height, fit, format, quality } = parsed.data
  return {
    fit,
    ...(width !== undefined && { width }),
    ...(height !== undefined && { height }),
    ...(format !== undefined && { format }),
    ...(quality !== undefined && { quality }),
  }
}

/**
 * A canonical, order-independent form of `params`, to name a cached derived variant:
 * `?quality=80&width=100` and `?width=100&fit=cover&quality=80` give the same key.
 *
 * @example
 * transformKey({ width: 100, fit: 'cover', format: 'webp' }) // → 'fit=cover&format=webp&width=100'
 */
export function transformKey(params: TransformParams): string {
  return [...PARAM_NAMES]
    .sort()
    .filter((k) => params[k] !== undefined)
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

/** The result of `transformImage`: fully encoded, so its length is known before the response starts. */
export interface TransformedImage {
  readonly stream: Readable
  readonly mimeType: string
  readonly size: number
  readonly width: number
  readonly height: number
}

export interface TransformOptions {
  /** Largest width × height accepted, checked from the header before any pixel is decoded. */
  readonly maxInputPixels: number
  /** Largest encoded input accepted; sharp holds the whole input in memory while it works. */
  readonly maxInputBytes?: number
}

// Raster formats only: SVG would be rasterised by librsvg (costly, and active content anyway);
// 'heif' is how sharp names AVIF input.
const INPUT_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff'])

type Metadata = Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>

const MIME: Record<TransformFormat, string> = {
  webp: 'image/webp',
  avif: 'image/avif',
  jpeg: 'image/jpeg',
  png: 'image/png',
}

/**
 * Resizes and re-encodes an image with sharp: EXIF orientation applied, metadata stripped, never enlarged,
 * first frame only for animations.
 *
 * Resolves only once the output is fully encoded, so every failure is an AppError thrown before a response
 * starts: a header declaring more than `maxInputPixels` pixels (decompression bomb) → 422
 * UNPROCESSABLE_IMAGE, rejected from the header without decoding; input beyond `maxInputBytes` → 413
 * PAYLOAD_TOO_LARGE; not a supported raster image → 415 UNSUPPORTED_MEDIA_TYPE; corrupt or truncated →
 * 422 UNPROCESSABLE_IMAGE. Errors of `input` itself (a failing store read) are rethrown unchanged.
 *
 * Run it inside a `TransformLimiter`, and open `input` inside the task, so queued requests hold no store
 * connection.
 *
 * @example
 * const out = await limiter.run(async () =>
 *   transformImage(await store.get(key), params, { maxInputPixels: 40e6, maxInputBytes: 25 << 20 }))
 */
export async function transformImage(
  input: Readable,
  params: TransformParams,
  opts: TransformOptions,
): Promise<TransformedImage> {
  configureSharp()
  const image = sharp({ limitInputPixels: opts.maxInputPixels, failOn: 'error', sequentialRead: true })
  let inputFailure: unknown
  const failed = new Promise<never>((_, reject) => {
    const fail = (e: unknown) => {
      inputFailure = e
      reject(e)
    }
    input.once('error', fail)
    const source = opts.maxInputBytes === undefined ? input : input.pipe(byteLimit(opts.maxInputBytes))
    source.once('error', fail)
    source.pipe(image)
  })
  failed.catch(() => {}) // raced below; never an unhandled rejection

  try {
    const meta = await Promise.race([image.metadata(), failed])
    if (!meta.format || !INPUT_FORMATS.has(meta.format)) throw notAnImage()
    if ((meta.width ?? 0) * (meta.height ?? 0) > opts.maxInputPixels) throw tooManyPixels(opts.maxInputPixels)

    const format = params.format ?? defaultFormat(meta)
    let pipeline = image.rotate()
    if (params.width !== undefined || params.height !== undefined) {
      pipeline = pipeline.resize({
        ...(params.width !== undefined && { width: params.width }),
        ...(params.height !== undefined && { height: params.height }),
        fit: params.fit,
        withoutEnlargement: true,
        background: { r: 0, g: 0, b: 0, alpha: 0 },
      })
    }
    // JPEG has no alpha: letterboxing and transparency become white rather than black.
    if (format === 'jpeg') pipeline = pipeline.flatten({ background: '#ffffff' })
    pipeline = pipeline.toFormat(format, params.quality === undefined ? {} : { quality: params.quality })
    const { data, info } = await Promise.race([pipeline.toBuffer({ resolveWithObject: true }), failed])
    return {
      stream: Readable.from([data], { objectMode: false }),
      mimeType: MIME[format],
      size: data.length,
      width: info.width,
      height: info.height,
    }
  } catch (e) {
    input.destroy()
    image.destroy()
    if (e === inputFailure || e instanceof AppError) throw e
    throw toImageError(e, opts.maxInputPixels)
  }
}

function defaultFormat(meta: Metadata): TransformFormat {
  if (meta.format === 'heif') return meta.compression === 'av1' ? 'avif' : 'png'
  return (TRANSFORM_FORMATS as readonly string[]).includes(meta.format ?? '')
    ? (meta.format as TransformFormat)
    : 'png'
}

function byteLimit(limit: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length
      if (seen > limit)
        done(new AppError('PAYLOAD_TOO_LARGE', `The image exceeds ${limit} bytes.`, { limit }))
      else done(null, chunk)
    },
  })
}

const notAnImage = () =>
  new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    'Only JPEG, PNG, WebP, AVIF, GIF and TIFF images can be transformed.',
  )

const tooManyPixels = (maxInputPixels: number) =>
  new AppError('UNPROCESSABLE_IMAGE', `The image has more than ${maxInputPixels} pixels.`, { maxInputPixels })

/** sharp reports every input problem as a plain Error; none of them is a server fault. */
function toImageError(e: unknown, maxInputPixels: number): AppError {
  const message = e instanceof Error ? e.message : String(e)
  if (/pixel limit/i.test(message)) return tooManyPixels(maxInputPixels)
  if (/unsupported image format/i.test(message)) return notAnImage()
  return new AppError('UNPROCESSABLE_IMAGE', 'The image is corrupt or truncated.', undefined, { cause: e })
}

let sharpConfigured = false

/**
 * Process-wide sharp settings, applied on first use rather than at import. No libvips operation cache:
 * derived variants are cached in the store, and the cache would hold decoded images in memory. One libvips
 * thread per image: the TransformLimiter's `concurrency` is then the one knob bounding the cores (and libuv
 * pool threads) that transformations may take from the API.
 */
function configureSharp(): void {
  if (sharpConfigured) return
  sharp.cache(false)
  sharp.concurrency(1)
  sharpConfigured = true
}

/** Bounds concurrent transformations; see `createTransformLimiter`. */
export interface TransformLimiter {
  /** Runs `task` when a slot is free; rejects at once with 503 UNAVAILABLE when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T>
  readonly active: number
  readonly queued: number
}

/**
 * Half the cores, at least 1 and at most 2: sharp work runs on libuv's pool (4 threads by default), which
 * fs, dns.lookup and crypto (password hashing) share, so transformations must never hold all of it.
 */
export function defaultTransformConcurrency(): number {
  return Math.min(2, Math.max(1, Math.floor(os.availableParallelism() / 2)))
}

/**
 * A semaphore so a burst of transformation requests cannot starve the API: at most `concurrency` tasks
 * run, up to `maxQueue` wait (first come, first served), and the rest are refused with 503 UNAVAILABLE
 * and `details.retryAfter` (seconds).
 *
 * @param opts.concurrency defaults to `defaultTransformConcurrency()`.
 * @param opts.maxQueue defaults to 4 × concurrency.
 * @example
 * const limiter = createTransformLimiter()
 * const out = await limiter.run(() => transformImage(stream, params, { maxInputPixels }))
 */
export function createTransformLimiter(
  opts: { concurrency?: number; maxQueue?: number } = {},
): TransformLimiter {
  const concurrency = Math.max(1, opts.concurrency ?? defaultTransformConcurrency())
  const maxQueue = Math.max(0, opts.maxQueue ?? concurrency * 4)
  let active = 0
  const waiting: (() => void)[] = []

  function release(): void {
    const next = waiting.shift()
    // Hand the slot straight to the next waiter, so `active` never dips and a newcomer cannot jump the queue.
    if (next) next()
    else active--
  }

  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (active < concurrency) active++
      else if (waiting.length < maxQueue) await new Promise<void>((resolve) => waiting.push(resolve))
      else {
        throw new AppError('UNAVAILABLE', 'Too many image transformations are in progress; retry shortly.', {
          retryAfter: 1,
        })
      }
      try {
        return await task()
      } finally {
        release()
      }
    },
    get active() {
      return active
    },
    get queued() {
      return waiting.length
    },
  }
}
