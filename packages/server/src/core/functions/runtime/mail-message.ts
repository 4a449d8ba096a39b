import { z } from 'zod'

/** Recipients of one `ctx.mail.send` at most. */
export const MAX_MAIL_RECIPIENTS = 10
/** RFC 5322's line limit: a longer subject would not fit one header line. */
export const MAX_MAIL_SUBJECT = 998
/** The text and the HTML body, bytes each (UTF-8). */
export const MAX_MAIL_BODY = 1024 * 1024

const address = z
  .string({ error: 'each recipient must be an email address (a string)' })
  .trim()
  .max(254, 'a recipient address is over 254 characters')
  // One plain address: no display name, no list, nothing a header could be split on.
  .regex(/^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+\.[^\s@<>,;:"()[\]\\]+$/, {
    error: (i) => `"${String(i.input).slice(0, 80)}" is not an email address`,
  })

const body = (name: string) =>
  z
    .string({ error: `\`${name}\` must be a string` })
    .refine((s) => Buffer.byteLength(s) <= MAX_MAIL_BODY, `\`${name}\` is over ${MAX_MAIL_BODY} bytes`)
    .optional()

/** What a function passes to `ctx.mail.send`, as the host checks it (the sandbox's word is never taken). */
export const functionMailMessage = z
  .strictObject(
    {
      to: z.union(
        [
          address,
          z
            .array(address, { error: '`to` must be an address or an array of addresses' })
            .min(1, '`to` lists no recipient')
            .max(MAX_MAIL_RECIPIENTS, `\`to\` lists over ${MAX_MAIL_RECIPIENTS} recipients`),
        ],
        { error: '`to` must be an email address or an array of at most 10' },
      ),
      subject: z
        .string({
          error: (i) =>
            i.input === undefined ? '`subject` is required (a string)' : '`subject` must be a string',
        })
        .trim()
        .min(1, '`subject` is empty')
        .max(MAX_MAIL_SUBJECT, `\`subject\` is over ${MAX_MAIL_SUBJECT} characters`)
        .refine((s) => !/[\r\n]/.test(s), '`subject` must be one line'),
      text: body('text'),
      html: body('html'),
    },
    { error: (i) => (i.code === 'unrecognized_keys' ? `unknown field ${i.keys.join(', ')}` : undefined) },
  )
  .refine((m) => Boolean(m.text || m.html), 'a mail needs a `text` or an `html` body')

export type FunctionMailMessage = z.infer<typeof functionMailMessage>

/**
 * `input` as a mail, or why not: the first problem, worded for the function's author (it becomes the rejection
 * of their `ctx.mail.send`).
 */
export function parseMailMessage(
  input: unknown,
): { ok: true; mail: FunctionMailMessage } | { ok: false; error: string } {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return { ok: false, error: 'expects one object: { to, subject, text?, html? }' }
  const r = functionMailMessage.safeParse(input)
  if (r.success) return { ok: true, mail: r.data }
  return { ok: false, error: messageOf(r.error.issues[0]!) }
}

/** An issue's message; inside a union, the branch whose type matched says more ("… over 10 recipients"). */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_union') return issue.message
  for (const branch of issue.errors) {
    const first = branch[0]
    // The branch whose type matched fails on something else than the type: its message says what.
    if (first && first.code !== 'invalid_type') return first.message
  }
  return issue.message
}
