/**
 * `bastide functions new`: the first `index.ts` of a function, one per trigger kind. Each typechecks against
 * `@bastide/sdk/functions` (test/functions-local.test.ts compiles them) and deploys as is, but for the names it
 * refers to (a collection, a bucket), which must exist on the server.
 */

export const TEMPLATE_TRIGGERS = ['http', 'record', 'cron', 'auth', 'storage'] as const
export type TemplateTrigger = (typeof TEMPLATE_TRIGGERS)[number]

const HEADER = `import { defineFunction } from '@bastide/sdk/functions'\n`

/** The source of a new function `name` answering to `trigger`. */
export function functionTemplate(name: string, trigger: TemplateTrigger): string {
  return `${HEADER}\n${BODIES[trigger](name)}`
}

const BODIES: Record<TemplateTrigger, (name: string) => string> = {
  http: (name) => `// Answers /api/functions/${name} (and everything below it), any method.
export default defineFunction({
  on: { http: true },
  timeoutMs: 10_000,
  async handler(event, ctx) {
    const url = new URL(event.request.url)
    ctx.log.info(event.request.method, url.pathname)
    // ctx.client acts as the caller (their rules apply), e.g. await ctx.client.collection('posts').list()
    return Response.json({ hello: url.searchParams.get('name') ?? 'world' })
  },
})
`,
  record: (
    name,
  ) => `// Runs after each change to a record of \`posts\` (a collection that must exist), at least once: on failure it is
// retried (\`retries\`), then moved to the dead-letter queue (\`bastide jobs dead functions.${name}\`).
export default defineFunction({
  on: { record: { collection: 'posts', actions: ['create', 'update'] } },
  retries: 3,
  async handler(event, ctx) {
    const { action, record, previous } = event.event
    // ctx.job.id is the same on every retry of this change: use it as the idempotency key of side effects.
    ctx.log.info(\`\${action} \${String(record.id)} (job \${ctx.job?.id}, attempt \${ctx.job?.attempt})\`)
    if (action === 'update' && previous) ctx.log.debug('was', previous)
  },
})
`,
  cron: () => `// Runs every 15 minutes (five fields, UTC), once across all nodes.
export default defineFunction({
  on: { cron: '*/15 * * * *' },
  retries: 1,
  async handler(event, ctx) {
    ctx.log.info('slot', event.at)
  },
})
`,
  auth: () => `// Runs after each sign-up, through the queue: if the mail cannot go, it is retried, then dead-lettered.
// (A \`before-sign-up\` hook runs before the user exists and may refuse: return { allow: false, message }.)
export default defineFunction({
  on: { auth: 'after-sign-up' },
  retries: 3,
  async handler(event, ctx) {
    const { email, name } = event.user
    await ctx.mail.send({
      to: email,
      subject: 'Welcome aboard',
      text: \`Hello \${name ?? email}, thanks for signing up.\`,
    })
    ctx.log.info(\`welcomed \${email}\`)
  },
})
`,
  storage: () => `// Runs after an object is written to the \`avatars\` bucket (a bucket that must exist).
export default defineFunction({
  on: { storage: { bucket: 'avatars', events: ['object.created'] } },
  async handler(event, ctx) {
    const { bucket, key, size, contentType } = event.event
    ctx.log.info(\`\${bucket}/\${key}: \${size} bytes of \${contentType}\`)
  },
})
`,
}
