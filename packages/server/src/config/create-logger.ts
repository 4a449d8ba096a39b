import pino, { type DestinationStream, type Logger } from 'pino'

export type LogFormat = 'json' | 'pretty'

/**
 * The server's logger. JSON lines (what log collectors read) unless stdout is a terminal, where a person reads
 * them: then one short line per entry. BASTIDE_LOG_FORMAT=json|pretty forces either. Formatting happens in
 * this thread, on the lines pino writes — no worker-thread transport, so nothing is lost on process.exit.
 */
export function createLogger(opts: {
  level: string
  format?: string | undefined
  stream?: NodeJS.WritableStream & { isTTY?: boolean }
  color?: boolean
}): Logger {
  const stream = opts.stream ?? process.stdout
  const format = logFormat(opts.format, stream.isTTY === true)
  const base = { level: opts.level, base: { service: 'bastide' } }
  if (format === 'json') return opts.stream ? pino(base, opts.stream) : pino(base)
  const color = opts.color ?? (stream.isTTY === true && !process.env.NO_COLOR)
  const destination: DestinationStream = { write: (line) => void stream.write(prettyLine(line, color)) }
  return pino(base, destination)
}

export function logFormat(value: string | undefined, tty: boolean): LogFormat {
  if (value === undefined || value === '') return tty ? 'pretty' : 'json'
  if (value === 'json' || value === 'pretty') return value
  throw new Error(`BASTIDE_LOG_FORMAT must be json or pretty (got ${JSON.stringify(value)}).`)
}

const LEVELS: Record<number, [string, number]> = {
  10: ['TRACE', 90],
  20: ['DEBUG', 36],
  30: ['INFO ', 32],
  40: ['WARN ', 33],
  50: ['ERROR', 31],
  60: ['FATAL', 35],
}

/** Never repeated on a pretty line: known from the line's head, or noise to a person at a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'requestId'])

/**
 * `12:04:05.123 INFO  Bastide listening on http://localhost:8787 port=8787`; a request as
 * `GET /api/health 200 1.2ms`; an error's stack on the lines below it.
 */
export function prettyLine(json: string, color: boolean): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json)
  } catch {
    return json
  }
  const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
  const [name, code] = LEVELS[entry.level as number] ?? [String(entry.level), 0]
  const time = typeof entry.time === 'number' ? clock(new Date(entry.time)) : ''
  let msg = String(entry.msg ?? '')
  let hidden = HIDDEN
  if (msg === 'request' && entry.method && entry.path) {
    msg = `${entry.method} ${entry.path} ${entry.status ?? ''} ${entry.ms ?? '?'}ms`
    hidden = new Set([...HIDDEN, 'method', 'path', 'status', 'ms'])
  }
  const fields = Object.entries(entry).filter(([k]) => !hidden.has(k))
  let stack = ''
  const shown = fields.map(([k, v]) => {
    if (v && typeof v === 'object' && 'message' in v) {
      const err = v as { message: unknown; stack?: unknown }
      if (typeof err.stack === 'string') stack = `\n${paint(90, err.stack.replace(/^/gm, '    '))}`
      return `${k}=${quote(String(err.message))}`
    }
    return `${k}=${typeof v === 'string' ? quote(v) : JSON.stringify(v)}`
  })
  const tail = shown.length > 0 ? ` ${paint(90, shown.join(' '))}` : ''
  return `${paint(90, time)} ${paint(code, name)} ${msg}${tail}${stack}\n`
}

/** Local time of day, to the millisecond: what a person at the terminal compares with their clock. */
function clock(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

function quote(s: string): string {
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)
}
