import type { AdminUsers } from '@bastide/sdk'
import { formatBytes, plural } from '../../lib/format.ts'

export type UserDeletePreview = Awaited<ReturnType<AdminUsers['deletePreview']>>

/** One line of the delete dialog: what happens, and how serious it is. */
export interface PreviewLine {
  readonly text: string
  readonly tone: 'danger' | 'change' | 'info'
}

/**
 * The delete dialog's summary of a preview, most serious first: what blocks the delete, what is deleted with
 * the user, what changes, what goes by itself (sessions, sign-in methods) and what stays (owned files).
 */
export function describePreview(p: UserDeletePreview): PreviewLine[] {
  const out: PreviewLine[] = []
  for (const r of p.relations.filter((x) => x.effect === 'block'))
    out.push({
      tone: 'danger',
      text: `${plural(r.records, 'record')} in ${r.collection} (${r.field}, on delete: restrict) still point at ${r.target === 'users' ? 'this user' : `${r.target} that would be deleted`}: remove or change them first.`,
    })
  if (p.tooDeep)
    out.push({
      tone: 'danger',
      text: 'The cascade goes deeper than the server follows (16 levels): the delete would be refused.',
    })
  for (const [c, n] of Object.entries(p.cascade))
    out.push({
      tone: 'danger',
      text: `${plural(n, 'record')} in ${c} ${n === 1 ? 'is' : 'are'} deleted with them.`,
    })
  for (const r of p.relations.filter((x) => x.effect === 'set_null' || x.effect === 'unlink'))
    out.push({
      tone: 'change',
      text:
        r.effect === 'set_null'
          ? `${plural(r.records, 'record')} in ${r.collection} keep${r.records === 1 ? 's' : ''} existing with ${r.field} emptied.`
          : `${plural(r.records, 'record')} in ${r.collection} lose${r.records === 1 ? 's' : ''} the link in ${r.field}.`,
    })
  out.push({ tone: 'info', text: `${plural(p.sessions, 'session')} end${p.sessions === 1 ? 's' : ''}.` })
  out.push({ tone: 'info', text: `${plural(p.accounts, 'sign-in method')} removed.` })
  if (p.files && p.files.count > 0)
    out.push({
      tone: 'change',
      text: `${plural(p.files.count, 'stored file')} (${formatBytes(p.files.bytes)}) stay${p.files.count === 1 ? 's' : ''}, without an owner.`,
    })
  return out
}

/** Typed confirmation is asked when records go with the user, not only the user themselves. */
export function needsTypedConfirmation(p: UserDeletePreview): boolean {
  return Object.values(p.cascade).some((n) => n > 0)
}
