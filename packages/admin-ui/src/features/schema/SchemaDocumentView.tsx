import type { SchemaBucket, SchemaChannel, SchemaCollection, SchemaDocument } from '@bastide/protocol'
import type { ReactNode } from 'react'
import { plural } from '../../lib/format.ts'

/** What a rule allows, in a word (`null` is locked, `''` is everyone). */
const ruleWord = (r: string | null) => (r === null ? 'locked' : r === '' ? 'everyone' : 'rule')

/**
 * The instance's schema, read-only: one line per collection, bucket and channel definition, each opening onto its
 * JSON as the document holds it, and the whole document at the end.
 */
export function SchemaDocumentView(props: { doc: SchemaDocument }) {
  const { doc } = props
  return (
    <div className="stack">
      <Kind title="Collections" empty="No collection." items={doc.collections} name={(c) => c.name}>
        {(c: SchemaCollection) => (
          <>
            {plural(c.fields.length, 'field')}, {plural(c.indexes.length, 'index', 'indexes')}
            {c.system ? <span className="badge">built in</span> : null}
          </>
        )}
      </Kind>
      <Kind title="Buckets" empty="No bucket." items={doc.buckets} name={(b) => b.name}>
        {(b: SchemaBucket) => (
          <>
            {b.public ? 'public' : 'private'}, read: {ruleWord(b.rules.read)}, write:{' '}
            {ruleWord(b.rules.write)}
          </>
        )}
      </Kind>
      <Kind
        title="Channel definitions"
        empty="No channel definition."
        items={doc.channels}
        name={(c) => c.pattern}
      >
        {(c: SchemaChannel) => (
          <>
            join: {ruleWord(c.rules.join)}, send: {ruleWord(c.rules.send)}
            {c.presence ? ', presence' : ''}
          </>
        )}
      </Kind>
      <details className="panel">
        <summary>The whole document (JSON)</summary>
        <pre className="mono schema-json">{JSON.stringify(doc, null, 2)}</pre>
      </details>
    </div>
  )
}

function Kind<T>(props: {
  title: string
  empty: string
  items: readonly T[]
  name: (item: T) => string
  children: (item: T) => ReactNode
}) {
  return (
    <div>
      <h3>
        {props.title} <span className="muted">({props.items.length})</span>
      </h3>
      {props.items.length === 0 ? (
        <p className="muted">{props.empty}</p>
      ) : (
        <ul className="stack" aria-label={props.title}>
          {props.items.map((item) => (
            <li key={props.name(item)}>
              <details>
                <summary>
                  <code>{props.name(item)}</code> <span className="muted">{props.children(item)}</span>
                </summary>
                <pre className="mono">{JSON.stringify(item, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
