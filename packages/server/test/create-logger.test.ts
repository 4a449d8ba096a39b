import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, logFormat, prettyLine } from '../src/config/create-logger.ts'

/** A stream that collects what is written to it, a terminal or not. */
function sink(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY })
  let text = ''
  stream.setEncoding('utf8').on('data', (d: string) => (text += d))
  return { stream, text: () => text }
}

describe('log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless BASTIDE_LOG_FORMAT says', () => {
    expect(logFormat(undefined, true)).toBe('pretty')
    expect(logFormat(undefined, false)).toBe('json')
    expect(logFormat('json', true)).toBe('json')
    expect(logFormat('pretty', false)).toBe('pretty')
    expect(() => logFormat('yaml', true)).toThrow(/BASTIDE_LOG_FORMAT must be json or pretty/)
  })

  it('writes JSON lines for a pipe (containers, log collectors)', async () => {
    const out = sink(false)
    const log = createLogger({ level: 'info', stream: out.stream })
    log.info({ port: 8787 }, 'Bastide listening')
    log.debug('not at info')
    await expect.poll(out.text).toContain('\n')
    const lines = out.text().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 30,
      service: 'bastide',
      port: 8787,
      msg: 'Bastide listening',
    })
  })

  it('writes one short line per entry on a terminal: time, level, message, fields', async () => {
    const out = sink(true)
    const log = createLogger({ level: 'info', stream: out.stream, color: false })
    log.info({ port: 8787, dataDir: '/var/lib/my data' }, 'Bastide listening')
    log.info({ requestId: 'r1', method: 'GET', path: '/api/health', status: 200, ms: 1.5 }, 'request')
    log.warn({ err: 'socket closed' }, 'database connection lost')
    await expect.poll(() => out.text().split('\n').length).toBe(4)
    const [listening, request, lost] = out.text().split('\n')
    expect(listening).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}Bastide listening port=8787 dataDir="\/var\/lib\/my data"$/,
    )
    expect(request).toMatch(/^\S+ INFO {2}GET \/api\/health 200 1.5ms$/)
    expect(lost).toMatch(/^\S+ WARN {2}database connection lost err="socket closed"$/)
  })

  it("shows an error's message as a field and its stack below the line", () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at main (main.ts:1:1)' }
    const line = prettyLine(JSON.stringify({ level: 60, time: 0, msg: 'fatal error', err }), false)
    expect(line.split('\n')).toEqual([
      expect.stringMatching(/ FATAL fatal error err=boom$/),
      '    Error: boom',
      '        at main (main.ts:1:1)',
      '',
    ])
  })

  it('passes through a line that is not JSON', () => {
    expect(prettyLine('plain\n', true)).toBe('plain\n')
  })
})
