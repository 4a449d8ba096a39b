import { z } from 'zod'

/**
 * The frames a sandbox sends the host, one JSON object per line on its stdout. User code runs in the sandbox's
 * isolate and can write anything there: every line is size-capped and checked against these shapes, and a line
 * that is neither is taken as a broken sandbox (see deno-process.ts).
 */

/** The longest line the host accepts from a sandbox, bytes (a 48 KiB body chunk in base64 is ~64 KiB). */
export const MAX_FRAME_BYTES = 12 * 1024 * 1024

const id = z.number().int().nonnegative()
const headers = z.array(z.tuple([z.string().max(8192), z.string().max(65536)])).max(500)
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/)

export const sandboxFrame = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ready'), manifest: z.unknown() }),
  z.object({ t: z.literal('invalid'), error: z.string() }),
  z.object({
    t: z.literal('log'),
    id,
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string(),
  }),
  z.object({
    t: z.literal('fetch'),
    id,
    rid: id,
    url: z.string().max(16384),
    method: z.string().min(1).max(32),
    headers,
    body: base64.nullable(),
  }),
  z.object({
    t: z.literal('request'),
    id,
    rid: id,
    method: z.string().min(1).max(32),
    path: z.string().startsWith('/').max(16384),
    headers,
    body: base64.nullable(),
  }),
  /** ctx.mail.send: the message is checked by the host (mail-message.ts), so that a bad one is refused in words. */
  z.object({ t: z.literal('mail'), id, rid: id, mail: z.unknown() }),
  /** ctx.push.send: the message is checked by the push module, which refuses a bad one in words. */
  z.object({ t: z.literal('push'), id, rid: id, push: z.unknown() }),
  z.object({ t: z.literal('head'), id, status: z.number().int().min(200).max(599), headers }),
  z.object({ t: z.literal('chunk'), id, data: base64 }),
  z.object({
    t: z.literal('done'),
    id,
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: z.string().optional(),
    /** Log lines the runner counted but did not send (over the limit). */
    dropped: z.number().int().nonnegative().optional(),
  }),
])

export type SandboxFrame = z.infer<typeof sandboxFrame>

/** One line as a frame, or undefined when it is not one. */
export function parseFrame(line: string): SandboxFrame | undefined {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return undefined
  }
  const r = sandboxFrame.safeParse(json)
  return r.success ? r.data : undefined
}

/**
 * Splits a byte stream into lines, refusing any longer than `max` bytes: `onLine` for each line, `onOverflow`
 * once when a line gets too long (nothing after it is read).
 */
export function lineSplitter(max: number, onLine: (line: string) => void, onOverflow: () => void) {
  let parts: Buffer[] = []
  let size = 0
  let broken = false
  return (chunk: Buffer) => {
    if (broken) return
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(10, start)
      const end = nl === -1 ? chunk.length : nl
      size += end - start
      if (size > max) {
        broken = true
        parts = []
        onOverflow()
        return
      }
      parts.push(chunk.subarray(start, end))
      if (nl === -1) return
      const line = Buffer.concat(parts).toString('utf8')
      parts = []
      size = 0
      start = nl + 1
      if (line.length > 0) onLine(line)
      if (broken) return
    }
  }
}
