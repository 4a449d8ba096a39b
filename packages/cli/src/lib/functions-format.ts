import type { FunctionManifest, FunctionTrigger, Invocation } from '@bastide/protocol'
import type { Output } from './output.ts'

/** A trigger in a few characters: `http`, `record:posts(create)`, `cron(*\/5 * * * *)`, `auth:before-sign-up`. */
export function describeTrigger(t: FunctionTrigger): string {
  if ('http' in t)
    return t.http === true || !t.http.methods?.length ? 'http' : `http(${t.http.methods.join(',')})`
  if ('record' in t)
    return `record:${t.record.collection}${t.record.actions?.length ? `(${t.record.actions.join(',')})` : ''}`
  if ('auth' in t) return `auth:${t.auth}`
  if ('storage' in t)
    return `storage:${t.storage.bucket}${t.storage.events?.length ? `(${t.storage.events.join(',')})` : ''}`
  if ('cron' in t) return `cron(${t.cron})`
  return JSON.stringify(t)
}

/** A manifest's triggers, described. */
export function describeTriggers(manifest: Pick<FunctionManifest, 'on'> | undefined): string[] {
  if (!manifest?.on) return []
  const on = manifest.on as FunctionTrigger | readonly FunctionTrigger[]
  return (Array.isArray(on) ? on : [on as FunctionTrigger]).map(describeTrigger)
}

/**
 * An invocation as text: one line (time, trigger, status, duration, HTTP status or attempt, version), then its log
 * lines and its error, indented.
 */
export function invocationLines(out: Output, inv: Invocation): string[] {
  const status = inv.status === 'ok' ? out.paint('green', inv.status) : out.paint('red', inv.status.padEnd(7))
  const extra = [
    inv.httpStatus !== null ? String(inv.httpStatus) : undefined,
    inv.attempt !== null ? `attempt ${inv.attempt}` : undefined,
    `v${inv.version}`,
  ].filter(Boolean)
  const lines = [
    `${inv.startedAt}  ${inv.trigger.padEnd(7)}  ${status.padEnd(inv.status === 'ok' ? 0 : 7)}  ${duration(inv.durationMs).padStart(7)}  ${extra.join('  ')}`,
  ]
  for (const l of inv.logs) {
    const level =
      l.level === 'error'
        ? out.paint('red', 'error')
        : l.level === 'warn'
          ? out.paint('yellow', 'warn ')
          : l.level.padEnd(5)
    const [first = '', ...rest] = l.message.split('\n')
    lines.push(
      `    ${l.at.slice(11, 23)} ${level} ${first}`,
      ...rest.map((r) => `                       ${r}`),
    )
  }
  if (inv.error)
    lines.push(
      ...inv.error.split('\n').map((r, i) => `    ${i === 0 ? out.paint('red', 'error: ') : '       '}${r}`),
    )
  return lines
}

/** A duration for people: `0.4ms`, `17ms`, `2.3s`. */
export function duration(ms: number): string {
  if (ms < 10) return `${Math.round(ms * 10) / 10}ms`
  if (ms < 10_000) return `${Math.round(ms)}ms`
  return `${Math.round(ms / 100) / 10}s`
}
