import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { pngBomb } from '../../../test/support/png-bomb.ts'
import { AppError } from '../../errors/index.ts'
import {
  createTransformLimiter,
  defaultTransformConcurrency,
  parseTransformParams,
  type TransformParams,
  transformImage,
  transformKey,
} from './transform-image.ts'

const LIMITS = { maxInputPixels: 40_000_000 }

const source = (data: Buffer) => Readable.from([data], { objectMode: false })

/** Random pixels, so that encoders cannot compress the quality differences away. */
function noise(width: number, height: number): ReturnType<typeof sharp> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251
  return sharp(pixels, { raw: { width, height, channels: 3 } })
}

const jpeg400x300 = await noise(400, 300).jpeg().toBuffer()
const png400x300 = await noise(400, 300).png().toBuffer()

async function run(input: Buffer, params: TransformParams, limits = LIMITS) {
  const out = await transformImage(source(input), params, limits)
  const bytes = await buffer(out.stream)
  return { ...out, bytes, meta: await sharp(bytes).metadata() }
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(AppError)
  return e as AppError
}

describe('parseTransformParams', () => {
  it('is undefined without transformation parameters', () => {
    expect(parseTransformParams({})).toBeUndefined()
    expect(parseTransformParams({ token: 'abc', download: '1', width: undefined })).toBeUndefined()
  })

  it('parses and defaults fit to cover', () => {
    expect(parseTransformParams({ width: '100', format: 'webp', token: 'x' })).toEqual({
      width: 100,
      fit: 'cover',
      format: 'webp',
    })
    expect(
      parseTransformParams({ width: '4096', height: '1', fit: 'contain', format: 'avif', quality: '100' }),
    ).toEqual({ width: 4096, height: 1, fit: 'contain', format: 'avif', quality: 100 })
    expect(parseTransformParams({ quality: '1' })).toEqual({ fit: 'cover', quality: 1 })
  })

  it('lists every bad parameter as a field error', () => {
    let caught: unknown
    try {
      parseTransformParams({ width: '0', height: '4097', fit: 'stretch', format: 'gif', quality: '101' })
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(AppError)
    const e = caught as AppError
    expect(e.status).toBe(400)
    expect(e.code).toBe('VALIDATION_FAILED')
    const fields = e.details?.fields as Record<string, { code: string; message: string }>
    expect(Object.keys(fields).sort()).toEqual(['fit', 'format', 'height', 'quality', 'width'])
    expect(fields.width).toEqual({ code: 'invalid', message: 'A whole number from 1 to 4096.' })
    expect(fields.quality?.message).toBe('A whole number from 1 to 100.')
  })

  it.each(['', '-1', '1.5', '1e3', ' 10', '0x10', '99999999999'])('rejects width=%j', (width) => {
    expect(() => parseTransformParams({ width })).toThrow(AppError)
  })
})

describe('transformKey', () => {
  it('is the same whatever the order and defaults of the query', () => {
    const a = parseTransformParams({ quality: '80', width: '100' })!
    const b = parseTransformParams({ width: '100', fit: 'cover', quality: '80' })!
    expect(transformKey(a)).toBe('fit=cover&quality=80&width=100')
    expect(transformKey(b)).toBe(transformKey(a))
    expect(transformKey(parseTransformParams({ width: '100', format: 'png' })!)).not.toBe(
      transformKey(parseTransformParams({ width: '100' })!),
    )
  })
})

describe('transformImage', () => {
  it('resizes to the requested width and format', async () => {
    const out = await run(jpeg400x300, { width: 100, fit: 'cover', format: 'webp' })
    expect(out.meta).toMatchObject({ format: 'webp', width: 100, height: 75 })
    expect(out).toMatchObject({ mimeType: 'image/webp', width: 100, height: 75, size: out.bytes.length })
  })

  it('keeps the input format when none is asked for', async () => {
    const out = await run(png400x300, { width: 40, fit: 'cover' })
    expect(out.mimeType).toBe('image/png')
    expect(out.meta.format).toBe('png')
  })

  it('fits inside both dimensions with fit=contain, letterboxing', async () => {
    const out = await run(png400x300, { width: 100, height: 100, fit: 'contain', format: 'png' })
    expect(out.meta).toMatchObject({ width: 100, height: 100, hasAlpha: true })
    const inside = await run(png400x300, { width: 100, height: 100, fit: 'inside', format: 'png' })
    expect(inside.meta).toMatchObject({ width: 100, height: 75 })
  })

  it('encodes a smaller file at a lower quality', async () => {
    const low = await run(jpeg400x300, { fit: 'cover', format: 'jpeg', quality: 10 })
    const high = await run(jpeg400x300, { fit: 'cover', format: 'jpeg', quality: 95 })
    expect(low.size).toBeLessThan(high.size / 2)
  })

  it('encodes AVIF, and keeps AVIF input as AVIF', async () => {
    const out = await run(png400x300, { width: 64, fit: 'cover', format: 'avif' })
    expect(out.mimeType).toBe('image/avif')
    expect(out.meta).toMatchObject({ format: 'heif', compression: 'av1', width: 64 })
    const again = await run(out.bytes, { width: 32, fit: 'cover' })
    expect(again.mimeType).toBe('image/avif')
  })

  it('applies the EXIF orientation and strips the metadata', async () => {
    // Stored 200×100 landscape, but orientation 6 says "rotate 90° clockwise to display".
    const rotated = await noise(200, 100).jpeg().withMetadata({ orientation: 6 }).toBuffer()
    expect((await sharp(rotated).metadata()).orientation).toBe(6)
    const out = await run(rotated, { width: 50, fit: 'cover', format: 'jpeg' })
    expect(out.meta).toMatchObject({ width: 50, height: 100 })
    expect(out.meta.orientation).toBeUndefined()
    expect(out.meta.exif).toBeUndefined()
  })

  it('never enlarges', async () => {
    const out = await run(png400x300, { width: 2000, fit: 'cover', format: 'png' })
    expect(out.meta).toMatchObject({ width: 400, height: 300 })
  })

  it('rejects a decompression bomb from its header, quickly and without decoding it', async () => {
    const bomb = pngBomb(50_000) // 2.5 gigapixels declared
    expect(bomb.length).toBeLessThan(10_000)
    const before = process.memoryUsage().rss
    const started = performance.now()
    const e = await rejection(transformImage(source(bomb), { width: 10, fit: 'cover' }, LIMITS))
    expect(performance.now() - started).toBeLessThan(1000)
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024)
    expect(e).toMatchObject({
      code: 'UNPROCESSABLE_IMAGE',
      status: 422,
      details: { maxInputPixels: 40_000_000 },
    })
  })

  it('accepts the same kind of image under the pixel limit', async () => {
    const small = pngBomb(100, 100)
    const out = await run(small, { width: 10, fit: 'cover' })
    expect(out.meta.width).toBe(10)
  })

  it('refuses input beyond maxInputBytes', async () => {
    const e = await rejection(
      transformImage(source(png400x300), { fit: 'cover' }, { ...LIMITS, maxInputBytes: 1000 }),
    )
    expect(e).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413, details: { limit: 1000 } })
  })

  it.each([
    ['garbage bytes', Buffer.from('this is not an image at all'), 415],
    ['an empty object', Buffer.alloc(0), 415],
    ['an SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), 415],
    ['a truncated PNG', png400x300.subarray(0, 200), 422],
    ['a PNG with a corrupt header', Buffer.concat([png400x300.subarray(0, 20), Buffer.alloc(300, 3)]), 422],
  ])('refuses %s with a 4xx', async (_name, input, status) => {
    const e = await rejection(transformImage(source(input), { width: 10, fit: 'cover' }, LIMITS))
    expect(e.status).toBe(status)
  })

  it('rethrows a failure of the input stream unchanged', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('store read failed'))
      },
    })
    await expect(transformImage(broken, { fit: 'cover' }, LIMITS)).rejects.toThrow('store read failed')
  })
})

describe('createTransformLimiter', () => {
  function deferred() {
    let resolve!: () => void
    const promise = new Promise<void>((r) => (resolve = r))
    return { promise, resolve }
  }

  it('runs `concurrency` tasks, queues `maxQueue`, refuses the rest with 503', async () => {
    const limiter = createTransformLimiter({ concurrency: 1, maxQueue: 2 })
    const gates = Array.from({ length: 5 }, deferred)
    let running = 0
    let maxRunning = 0
    const results = gates.map((gate, i) =>
      limiter.run(async () => {
        running++
        maxRunning = Math.max(maxRunning, running)
        await gate.promise
        running--
        return i
      }),
    )
    const settled = Promise.allSettled(results)
    await new Promise((r) => setImmediate(r))
    expect({ active: limiter.active, queued: limiter.queued }).toEqual({ active: 1, queued: 2 })
    for (const gate of gates) gate.resolve()

    const outcomes = await settled
    const done = outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value)
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as AppError)
    expect(done).toEqual([0, 1, 2])
    expect(refused).toHaveLength(2)
    for (const e of refused) {
      expect(e).toBeInstanceOf(AppError)
      expect(e).toMatchObject({ code: 'UNAVAILABLE', status: 503, details: { retryAfter: 1 } })
    }
    expect(maxRunning).toBe(1)
    expect({ active: limiter.active, queued: limiter.queued }).toEqual({ active: 0, queued: 0 })
  })

  it('frees the slot when a task fails, and runs real transformations', async () => {
    const limiter = createTransformLimiter({ concurrency: 1, maxQueue: 2 })
    const failing = limiter.run(() => Promise.reject(new Error('boom')))
    const real = [1, 2].map((n) =>
      limiter.run(() => transformImage(source(jpeg400x300), { width: 10 * n, fit: 'cover' }, LIMITS)),
    )
    await expect(failing).rejects.toThrow('boom')
    expect((await Promise.all(real)).map((o) => o.width)).toEqual([10, 20])
    expect(limiter.active).toBe(0)
  })

  it('defaults to half the cores, between 1 and 2', () => {
    expect(defaultTransformConcurrency()).toBeGreaterThanOrEqual(1)
    expect(defaultTransformConcurrency()).toBeLessThanOrEqual(2)
  })
})
