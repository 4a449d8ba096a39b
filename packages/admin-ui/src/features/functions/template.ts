/** Function names the server accepts: a lowercase letter, then lowercase letters, digits and dashes (63 at most). */
export const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/

/** Why `name` cannot be a function's name, or null when it can. */
export function nameProblem(name: string): string | null {
  if (name === '') return 'A name is needed.'
  if (name.length > 63) return 'At most 63 characters.'
  if (!/^[a-z]/.test(name)) return 'Starts with a lowercase letter.'
  if (!FUNCTION_NAME.test(name)) return 'Lowercase letters, digits and dashes only.'
  return null
}

export type TemplateId = 'http' | 'record' | 'cron'

/** The starting points of the "New function" page. */
export const TEMPLATES: readonly { id: TemplateId; label: string }[] = [
  { id: 'http', label: 'HTTP endpoint' },
  { id: 'record', label: 'On record changes' },
  { id: 'cron', label: 'On a schedule' },
]

/** A small working function of the chosen kind, for `name`. */
export function functionTemplate(id: TemplateId, name: string): string {
  const head = "import { defineFunction } from '@bastide/sdk/functions'\n\n"
  if (id === 'record')
    return `${head}// Runs after each change to "posts" is committed (at least once: ctx.job.id is an idempotency key).
export default defineFunction({
  on: { record: { collection: 'posts', actions: ['create'] } },
  retries: 3,
  async handler(event, ctx) {
    if (event.trigger !== 'record') return
    ctx.log.info(\`\${event.event.action} \${event.event.collection} \${event.event.record.id}\`)
  },
})
`
  if (id === 'cron')
    return `${head}// Runs once per slot across all nodes (UTC).
export default defineFunction({
  on: { cron: '*/15 * * * *' },
  async handler(event, ctx) {
    if (event.trigger !== 'cron') return
    ctx.log.info(\`slot \${event.at}\`)
  },
})
`
  return `${head}// Answers /api/functions/${name} (and every path under it).
export default defineFunction({
  on: { http: true },
  timeoutMs: 10000,
  async handler(event, ctx) {
    if (event.trigger !== 'http') return
    const url = new URL(event.request.url)
    ctx.log.info(\`\${event.request.method} \${url.pathname}\`)
    return Response.json({ hello: url.searchParams.get('name') ?? 'world' })
  },
})
`
}
