import type { FunctionManifest, FunctionTrigger, TriggerKind } from '@bastide/protocol'

/** One trigger as a badge: its kind, and what it listens to in a few words. */
export interface TriggerBadge {
  readonly kind: TriggerKind
  readonly text: string
}

/** The manifest's `on`, one trigger or a list, as a list. */
export function triggersOf(m: Pick<FunctionManifest, 'on'>): readonly FunctionTrigger[] {
  return Array.isArray(m.on) ? m.on : [m.on as FunctionTrigger]
}

export function triggerKind(t: FunctionTrigger): TriggerKind {
  if ('http' in t) return 'http'
  if ('record' in t) return 'record'
  if ('auth' in t) return 'auth'
  if ('storage' in t) return 'storage'
  if ('sync' in t) return 'sync'
  return 'cron'
}

/** `http GET, POST`, `record posts: create`, `auth before-sign-up`, `storage avatars`, `cron 0 3 * * *`. */
export function describeTrigger(t: FunctionTrigger): TriggerBadge {
  if ('http' in t) {
    const methods = t.http === true ? undefined : t.http.methods
    return { kind: 'http', text: methods?.length ? `http ${methods.join(', ')}` : 'http' }
  }
  if ('record' in t) {
    const actions = t.record.actions
    return {
      kind: 'record',
      text: `record ${t.record.collection}${actions?.length ? `: ${actions.join(', ')}` : ''}`,
    }
  }
  if ('auth' in t) return { kind: 'auth', text: `auth ${t.auth}` }
  if ('storage' in t) {
    const events = t.storage.events
    return {
      kind: 'storage',
      text: `storage ${t.storage.bucket}${events?.length ? `: ${events.join(', ')}` : ''}`,
    }
  }
  if ('sync' in t) return { kind: 'sync', text: `sync ${t.sync}` }
  return { kind: 'cron', text: `cron ${t.cron}` }
}

/** Whether a test run (POST …/invoke with an event) applies: the function has a trigger other than HTTP. */
export function hasEventTrigger(m: Pick<FunctionManifest, 'on'>): boolean {
  return triggersOf(m).some((t) => triggerKind(t) !== 'http')
}

/** A sample event for a test run of the function's first event trigger, in the shape its handler receives. */
export function sampleEvent(m: Pick<FunctionManifest, 'on'>, now = new Date()): unknown {
  const at = now.toISOString()
  const t = triggersOf(m).find((x) => triggerKind(x) !== 'http')
  if (!t) return {}
  if ('record' in t)
    return {
      trigger: 'record',
      event: {
        seq: 1,
        action: t.record.actions?.[0] ?? 'create',
        collection: t.record.collection,
        record: { id: 'test-record' },
        at,
      },
    }
  if ('auth' in t)
    return { trigger: 'auth', hook: t.auth, user: { email: 'someone@example.com', name: 'Someone' } }
  if ('storage' in t)
    return {
      trigger: 'storage',
      event: {
        name: t.storage.events?.[0] ?? 'object.created',
        bucket: t.storage.bucket,
        key: 'test.txt',
        size: 5,
        contentType: 'text/plain',
        at,
      },
    }
  if ('cron' in t) return { trigger: 'cron', schedule: t.cron, at }
  if ('sync' in t)
    return {
      trigger: 'sync',
      collection: 'todos',
      recordId: 'test-record',
      base: null,
      server: { id: 'test-record', version: 2, title: 'Edited on the server' },
      client: { op: 'update', data: { title: 'Edited offline' }, at },
    }
  return {}
}
