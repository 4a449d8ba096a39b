import { Readable } from 'node:stream'
import { fileTypeFromBuffer } from 'file-type'

/** How many leading bytes are inspected: file-type's own "reasonable detection size". */
export const SNIFF_BYTES = 4100

const OCTET_STREAM = 'application/octet-stream'

/**
 * Decides the Content-Type an uploaded object is stored (and later served) under, from its first bytes.
 *
 * The returned stream yields every original byte, the peeked ones included; at most ~`SNIFF_BYTES` plus one
 * source chunk is held in memory. Destroying the returned stream destroys `source`.
 *
 * Precedence, so that a client cannot store HTML or SVG under `image/png`:
 * 1. Markup recognised from the bytes (HTML, XHTML, SVG, XML) wins over the declared type. One exception:
 *    bytes sniffed as generic XML keep a declared XML type (`text/xml`, `application/atom+xml`…),
 *    which is active content all the same.
 * 2. A binary signature recognised by file-type wins (a JPEG declared `image/png` is `image/jpeg`).
 * 3. Plain text (UTF-8 without binary control bytes, or a UTF-16 BOM) keeps the declared type only when it
 *    is a textual type that is not active content (`text/csv`, `application/json`…); otherwise `text/plain`.
 *    So `text/html` or `application/javascript` declared over bytes that do not look like markup become
 *    `text/plain`: an active type is never taken from the client's word alone.
 * 4. Unrecognised binary content keeps a declared type that is neither active, textual nor in the
 *    `image/`, `audio/`, `video/` families (file-type knows those signatures, so a miss means the claim is
 *    false); otherwise `application/octet-stream`. Empty content follows the same rule but may keep a
 *    textual declared type.
 *
 * JSON is not sniffed (a prefix cannot prove it); a declared `application/json` over text is kept by rule 3.
 *
 * @example
 * const { mimeType, stream } = await sniffContentType(body, req.headers['content-type'])
 * await store.put(key, stream, { contentType: mimeType })
 */
export async function sniffContentType(
  source: Readable,
  declared?: string,
): Promise<{ mimeType: string; stream: Readable }> {
  const iterator: AsyncIterator<Buffer | string> = source[Symbol.asyncIterator]()
  const chunks: Buffer[] = []
  let size = 0
  let ended = false
  while (size < SNIFF_BYTES) {
    const next = await iterator.next()
    if (next.done) {
      ended = true
      break
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value)
    chunks.push(chunk)
    size += chunk.length
  }
  const head = Buffer.concat(chunks)
  const mimeType = await decideType(
    head.subarray(0, SNIFF_BYTES),
    ended && head.length <= SNIFF_BYTES,
    declared,
  )

  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head
      if (ended) return
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value)
      }
    } finally {
      await iterator.return?.()
    }
  }
  const stream = Readable.from(replay(), { objectMode: false })
  // A generator that never started ignores return(), so release the source explicitly when the consumer
  // gives up early (client disconnect, limit exceeded).
  stream.once('close', () => {
    if (!source.destroyed && !source.readableEnded) source.destroy()
  })
  return { mimeType, stream }
}

async function decideType(
  sample: Buffer,
  complete: boolean,
  declaredRaw: string | undefined,
): Promise<string> {
  const declared = normalizeMime(declaredRaw)
  const text = decodeText(sample, complete)

  if (text !== undefined) {
    const markup = sniffMarkup(text)
    if (markup === 'application/xml' && declared && isXmlType(declared)) return declared
    if (markup) return markup
  }
  if (sample.length > 0) {
    const detected = await fileTypeFromBuffer(sample)
    if (detected) return detected.mime
  }
  if (text !== undefined && sample.length > 0) {
    return declared && isTextual(declared) && !isActiveContent(declared) ? declared : 'text/plain'
  }
  if (
    declared &&
    !isActiveContent(declared) &&
    (!isTextual(declared) || sample.length === 0) &&
    !/^(image|audio|video)\//.test(declared)
  ) {
    return declared
  }
  return OCTET_STREAM
}

/**
 * Text decoded from the sample, or undefined when it looks binary. Mirrors the WHATWG "binary data byte"
 * test: NUL and most C0 controls never appear in text.
 */
function decodeText(sample: Buffer, complete: boolean): string | undefined {
  let encoding = 'utf-8'
  let body = sample
  if (sample[0] === 0xfe && sample[1] === 0xff) encoding = 'utf-16be'
  else if (sample[0] === 0xff && sample[1] === 0xfe) encoding = 'utf-16le'
  if (encoding !== 'utf-8') body = sample.subarray(2)
  else if (sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf) body = sample.subarray(3)
  let text: string
  try {
    // `stream: true` tolerates a multi-byte character cut by the sample boundary.
    text = new TextDecoder(encoding, { fatal: true }).decode(body, { stream: !complete })
  } catch {
    return undefined
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point.
  return /[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]/.test(text) ? undefined : text
}

/** Elements whose presence at the top makes a browser render HTML (WHATWG "scriptable" patterns and more). */
const HTML_TAGS = new Set([
  'html',
  'head',
  'body',
  'script',
  'iframe',
  'h1',
  'div',
  'font',
  'table',
  'a',
  'style',
  'title',
  'b',
  'br',
  'p',
  'meta',
  'link',
  'img',
  'form',
  'object',
  'embed',
  'frameset',
  'base',
  'template',
])

/**
 * Classifies text that starts with markup. Skips whitespace, the XML declaration, processing instructions,
 * comments and a doctype, then looks at the first element.
 */
function sniffMarkup(text: string): string | undefined {
  let rest = text
  let sawXmlDecl = false
  let sawComment = false
  for (;;) {
    rest = rest.replace(/^[\t\n\f\r ]+/, '')
    if (/^<\?xml[\s?]/i.test(rest)) sawXmlDecl = true
    const prolog = /^(<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!doctype[^>]*>)/i.exec(rest)
    if (!prolog) break
    if (prolog[0].startsWith('<!--')) sawComment = true
    if (/^<!doctype\s+html[\s>]/i.test(prolog[0])) return sawXmlDecl ? 'application/xhtml+xml' : 'text/html'
    if (/^<!doctype\s+svg[\s>]/i.test(prolog[0])) return 'image/svg+xml'
    rest = rest.slice(prolog[0].length)
  }
  const element = /^<(?:[a-z][\w.-]*:)?([a-z][\w.-]*)(?=[\s/>]|$)/i.exec(rest)?.[1]?.toLowerCase()
  if (element === 'svg') return 'image/svg+xml'
  if (element === 'html') return sawXmlDecl ? 'application/xhtml+xml' : 'text/html'
  if (element && HTML_TAGS.has(element)) return sawXmlDecl ? 'application/xml' : 'text/html'
  if (sawXmlDecl) return 'application/xml'
  // An unterminated comment, or a comment then anything: WHATWG sniffs `<!--` as HTML, so do we.
  if (sawComment || /^<!--/.test(rest)) return 'text/html'
  return undefined
}

const ACTIVE_EXACT = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'application/xslt+xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/x-ecmascript',
  'text/javascript',
  'text/ecmascript',
  'text/jscript',
  'text/livescript',
  'text/x-javascript',
  'text/x-ecmascript',
  'application/pdf',
  'application/x-shockwave-flash',
  'multipart/x-mixed-replace',
])

/**
 * Whether a browser may run script or render a document from this type, when served from our origin.
 * Such objects must be served as `attachment` (and under a sandboxing CSP).
 *
 * Covers HTML, XHTML, SVG, every XML type (`*+xml`, since XML may embed XHTML script), XSL, the
 * JavaScript/ECMAScript family, Flash, `multipart/x-mixed-replace`, and PDF (viewers run embedded
 * JavaScript and forms). Unknown types such as `application/octet-stream` are not active, but a route
 * should still serve inline only an allow-list of passive types (raster images, audio, video, text/plain).
 */
export function isActiveContent(mimeType: string): boolean {
  const m = normalizeMime(mimeType)
  if (!m) return false
  return ACTIVE_EXACT.has(m) || m.endsWith('+xml')
}

/**
 * Whether `mimeType` matches one of `patterns`: exact (`image/png`), a family (`image/*`) or anything
 * (`*` or `*` + `/*`). Case-insensitive; parameters (`; charset=…`) are ignored. No pattern: no match —
 * a bucket without an allow-list should not call this. Wildcards never admit active content: an operator
 * who allows `image/*` means photos, and SVG (script) comes in only when `image/svg+xml` is listed.
 */
export function mimeMatches(mimeType: string, patterns: readonly string[]): boolean {
  const m = normalizeMime(mimeType)
  if (!m) return false
  const family = m.slice(0, m.indexOf('/'))
  const active = isActiveContent(m)
  return patterns.some((raw) => {
    const p = raw.split(';')[0]!.trim().toLowerCase()
    if (p === m) return true
    return !active && (p === '*' || p === '*/*' || p === `${family}/*`)
  })
}

/** `Text/HTML; charset=utf-8` → `text/html`; anything that is not `type/subtype` → undefined. */
function normalizeMime(raw: string | undefined): string | undefined {
  const m = raw?.split(';')[0]?.trim().toLowerCase()
  return m && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(m) ? m : undefined
}

function isXmlType(m: string): boolean {
  return m === 'text/xml' || m === 'application/xml' || m.endsWith('+xml')
}

function isTextual(m: string): boolean {
  return (
    m.startsWith('text/') ||
    isXmlType(m) ||
    m.endsWith('+json') ||
    ['application/json', 'application/javascript', 'application/ecmascript', 'application/x-ndjson'].includes(
      m,
    )
  )
}
