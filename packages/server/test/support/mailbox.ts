import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  readonly from: string
  readonly to: readonly string[]
  /** The raw message (headers and MIME body), as the server received it. */
  readonly raw: string
  readonly subject: string
  /** The text/plain part, decoded. */
  readonly text: string
}

export interface Mailbox {
  /** `smtp://127.0.0.1:<port>` for BASTIDE_SMTP_URL. */
  readonly url: string
  readonly mails: ReceivedMail[]
  /** Waits for the next mail to `to` matching `match` (subject or text), received after this call or not yet read. */
  next(to: string, match?: RegExp, timeoutMs?: number): Promise<ReceivedMail>
  close(): Promise<void>
}

/** A real SMTP server on loopback (smtp-server) that keeps every message it accepts. */
export async function startMailbox(): Promise<Mailbox> {
  const mails: ReceivedMail[] = []
  const consumed = new Set<ReceivedMail>()
  const waiters = new Set<() => void>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw,
          subject: decodeHeader(/^Subject: (.*(?:\r\n[ \t].*)*)/im.exec(raw)?.[1] ?? ''),
          text: textPart(raw),
        })
        for (const w of waiters) w()
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    next(to, match, timeoutMs = 5000) {
      const want = to.toLowerCase()
      const find = () =>
        mails.find(
          (m) =>
            !consumed.has(m) &&
            m.to.includes(want) &&
            (!match || match.test(m.subject) || match.test(m.text)),
        )
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = find()
          if (!m) return false
          consumed.add(m)
          waiters.delete(check)
          clearTimeout(timer)
          resolve(m)
          return true
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no mail to ${to}${match ? ` matching ${match}` : ''} within ${timeoutMs} ms`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** The first http(s) link in a mail's text. */
export function linkIn(mail: ReceivedMail): URL {
  const m = /https?:\/\/[^\s"<>]+/.exec(mail.text)
  if (!m) throw new Error(`no link in mail: ${mail.text}`)
  return new URL(m[0])
}

/** The first 6-digit code in a mail's text. */
export function codeIn(mail: ReceivedMail): string {
  const m = /\b(\d{6})\b/.exec(mail.text)
  if (!m) throw new Error(`no code in mail: ${mail.text}`)
  return m[1]!
}

function decodeHeader(v: string): string {
  return v
    .replace(/\r\n[ \t]/g, ' ')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, enc: string, data: string) =>
      enc.toLowerCase() === 'b'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQp(data.replace(/_/g, ' ')),
    )
    .replace(/\?=\s+=\?/g, '')
    .trim()
}

function decodeQp(s: string): string {
  const bytes: number[] = []
  const src = s.replace(/=\r?\n/g, '')
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-F]{2}$/i.test(src.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(src.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(...Buffer.from(src[i]!, 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Extracts and decodes the text/plain part of a MIME message (nodemailer's output). */
function textPart(raw: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(raw)?.[1]
  const parts = boundary ? raw.split(`--${boundary}`) : [raw]
  for (const part of parts) {
    const [head = '', ...rest] = part.split(/\r?\n\r?\n/)
    if (boundary && !/content-type:\s*text\/plain/i.test(head)) continue
    const body = rest.join('\n\n')
    if (/content-transfer-encoding:\s*base64/i.test(head))
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) return decodeQp(body)
    return body
  }
  return raw
}
