import type { CollectionSchema } from '@bastide/protocol'
import { useId, useMemo, useState } from 'react'
import { fieldsOf } from './draft.ts'
import { buildSnippets, describeRule } from './snippets.ts'

const TITLES = {
  list: 'List records',
  view: 'View a record',
  create: 'Create a record',
  update: 'Update a record',
  delete: 'Delete a record',
} as const

/** curl and SDK examples for the five actions, with this collection's real fields and the rule each one meets. */
export function ApiPreview(props: { collection: CollectionSchema }) {
  const [lang, setLang] = useState<'sdk' | 'curl'>('sdk')
  const [copied, setCopied] = useState<string | null>(null)
  const id = useId()
  const snippets = useMemo(() => buildSnippets(props.collection, window.location.origin), [props.collection])
  const hidden = fieldsOf(props.collection)
    .filter((f) => f.hidden)
    .map((f) => f.name)
  return (
    <div className="stack">
      <div className="row">
        <fieldset className="cl-lang">
          <legend className="sr-only">Language</legend>
          {(['sdk', 'curl'] as const).map((l) => (
            <label key={l} className="check">
              <input type="radio" name={`${id}-lang`} checked={lang === l} onChange={() => setLang(l)} />
              <span>{l === 'sdk' ? 'JavaScript SDK' : 'curl'}</span>
            </label>
          ))}
        </fieldset>
        <span className="muted">
          {lang === 'sdk'
            ? "const client = createClient({ url }) from '@bastide/sdk', signed in as a user."
            : '$TOKEN: a user’s access token or a secret API key (bst_sk_…).'}
        </span>
      </div>
      {hidden.length > 0 ? (
        <p className="muted">
          Hidden fields ({hidden.join(', ')}) are never returned to users, only to console admins and API
          keys.
        </p>
      ) : null}
      {snippets.map((s) => {
        const code = lang === 'sdk' ? s.sdk : s.curl
        return (
          <section key={s.action} className="panel cl-snippet" aria-labelledby={`${id}-${s.action}`}>
            <div className="row">
              <h3 id={`${id}-${s.action}`} className="grow">
                {TITLES[s.action]}
              </h3>
              <button
                type="button"
                className="btn small"
                onClick={() => {
                  void navigator.clipboard?.writeText(code)
                  setCopied(s.action)
                }}
              >
                {copied === s.action ? 'Copied' : 'Copy'}
                <span className="sr-only"> the {s.action} example</span>
              </button>
            </div>
            <p className="cl-rule-line">
              <strong>Rule:</strong> {describeRule(props.collection.rules[s.action])}
            </p>
            <pre className="cl-code">
              <code>{code}</code>
            </pre>
          </section>
        )
      })}
    </div>
  )
}
