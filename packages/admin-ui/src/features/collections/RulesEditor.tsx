import type { CollectionRules, FieldSchema, RuleAction } from '@bastide/protocol'
import { BastideError } from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { useClient } from '../../lib/client.tsx'
import { collectionsKey, listCollections } from './queries.ts'
import { ruleFieldHints, rulePosition } from './rule-position.ts'
import { describeRule } from './snippets.ts'

const ACTIONS: readonly { action: RuleAction; title: string; help: string }[] = [
  { action: 'list', title: 'List rule', help: 'Which records a list returns (others are filtered out).' },
  { action: 'view', title: 'View rule', help: 'Who may read one record (others answer 404).' },
  { action: 'create', title: 'Create rule', help: 'Checked against the record being created.' },
  { action: 'update', title: 'Update rule', help: 'Who may change a record (checked before and after).' },
  { action: 'delete', title: 'Delete rule', help: 'Who may delete a record.' },
]

const DEBOUNCE_MS = 350

/** The five rules; each expression is checked against the server as it is typed. */
export function RulesEditor(props: {
  name: string
  fields: readonly FieldSchema[]
  rules: CollectionRules
  onChange: (rules: CollectionRules) => void
}) {
  const client = useClient()
  const collections = useQuery({ queryKey: collectionsKey, queryFn: listCollections(client) })
  const hints = useMemo(
    () =>
      ruleFieldHints(props.fields, (n) =>
        n === props.name ? props.fields : collections.data?.find((c) => c.name === n)?.fields,
      ),
    [props.fields, props.name, collections.data],
  )
  return (
    <div className="stack">
      <p className="muted">
        Locked: only console admins and API keys. Everyone: anyone, signed in or not. An expression: only when
        it holds, e.g. <code>@request.auth.id != ''</code> or <code>owner = @request.auth.id</code>.
      </p>
      {ACTIONS.map((a) => (
        <RuleEditor
          key={a.action}
          {...a}
          value={props.rules[a.action]}
          onChange={(v) => props.onChange({ ...props.rules, [a.action]: v })}
          name={props.name}
          fields={props.fields}
          hints={hints}
        />
      ))}
    </div>
  )
}

type Mode = 'locked' | 'everyone' | 'expression'
type Check =
  | { state: 'idle' }
  | { state: 'checking' }
  | { state: 'ok' }
  | { state: 'error'; message: string; position?: number; text: string }

function RuleEditor(props: {
  action: RuleAction
  title: string
  help: string
  value: string | null
  onChange: (v: string | null) => void
  name: string
  fields: readonly FieldSchema[]
  hints: readonly string[]
}) {
  const client = useClient()
  const id = useId()
  const area = useRef<HTMLTextAreaElement>(null)
  const [mode, setMode] = useState<Mode>(
    props.value === null ? 'locked' : props.value.trim() === '' ? 'everyone' : 'expression',
  )
  const text = props.value ?? ''
  const [check, setCheck] = useState<Check>({ state: 'idle' })
  // What the check depends on: the text and what a rule can reach in the draft.
  const shape = JSON.stringify(
    props.fields.map((f) => [
      f.name,
      f.type,
      f.options?.collection ?? null,
      f.options?.multiple ?? false,
      f.hidden ?? false,
    ]),
  )
  useEffect(() => {
    if (mode !== 'expression' || text.trim() === '' || props.name.trim() === '') {
      setCheck({ state: 'idle' })
      return
    }
    const ctl = new AbortController()
    setCheck({ state: 'checking' })
    const timer = setTimeout(() => {
      const fields = (JSON.parse(shape) as [string, FieldSchema['type'], string | null, boolean, boolean][])
        .filter(([n]) => n.trim() !== '')
        .map(([n, type, collection, multiple, hidden]) => ({
          name: n,
          type,
          hidden,
          options: { ...(collection ? { collection } : {}), multiple },
        }))
      client.admin.collections
        .checkRule(
          { collection: { name: props.name, fields }, action: props.action, rule: text },
          { signal: ctl.signal },
        )
        .then(
          () => !ctl.signal.aborted && setCheck({ state: 'ok' }),
          (e: unknown) => {
            if (ctl.signal.aborted) return
            const position =
              e instanceof BastideError && typeof e.details?.position === 'number'
                ? e.details.position
                : undefined
            setCheck({
              state: 'error',
              message: e instanceof Error ? e.message : String(e),
              ...(position !== undefined ? { position } : {}),
              text,
            })
          },
        )
    }, DEBOUNCE_MS)
    return () => {
      clearTimeout(timer)
      ctl.abort()
    }
  }, [client, mode, text, shape, props.name, props.action])

  const choose = (m: Mode) => {
    setMode(m)
    props.onChange(m === 'locked' ? null : m === 'everyone' ? '' : text)
  }
  const insert = (hint: string) => {
    const el = area.current
    const start = el?.selectionStart ?? text.length
    const end = el?.selectionEnd ?? text.length
    const next = text.slice(0, start) + hint + text.slice(end)
    props.onChange(next)
    requestAnimationFrame(() => {
      el?.focus()
      el?.setSelectionRange(start + hint.length, start + hint.length)
    })
  }
  const statusId = `${id}-status`
  const helpId = `${id}-help`
  const pos =
    check.state === 'error' && check.position !== undefined ? rulePosition(check.text, check.position) : null
  return (
    <fieldset className="panel cl-rule-editor">
      <legend>{props.title}</legend>
      <p id={helpId} className="muted cl-rule-help">
        {props.help}
      </p>
      <div className="row" role="radiogroup" aria-label={`${props.title}: who may`}>
        {(['locked', 'everyone', 'expression'] as const).map((m) => (
          <label key={m} className="check">
            <input type="radio" name={`${id}-mode`} checked={mode === m} onChange={() => choose(m)} />
            <span>{m === 'locked' ? 'Locked' : m === 'everyone' ? 'Everyone' : 'Expression'}</span>
          </label>
        ))}
      </div>
      {mode === 'expression' ? (
        <>
          <label htmlFor={`${id}-text`} className="sr-only">
            {props.title} expression
          </label>
          <textarea
            ref={area}
            id={`${id}-text`}
            rows={Math.min(8, Math.max(2, text.split('\n').length + 1))}
            spellCheck={false}
            value={text}
            placeholder="@request.auth.id != ''"
            aria-invalid={check.state === 'error'}
            aria-describedby={`${statusId} ${helpId}`}
            onChange={(e) => props.onChange(e.target.value)}
          />
          <div id={statusId} aria-live="polite" className="cl-rule-status">
            {check.state === 'checking' ? <span className="muted">Checking…</span> : null}
            {check.state === 'ok' ? <span className="cl-ok">✓ Valid</span> : null}
            {check.state === 'idle' && text.trim() !== '' && props.name.trim() === '' ? (
              <span className="muted">Name the collection to check this rule.</span>
            ) : null}
            {check.state === 'idle' && text.trim() === '' ? (
              <span className="muted">An empty expression lets everyone in.</span>
            ) : null}
            {check.state === 'error' ? (
              <div className="cl-rule-error">
                <span>{check.message}</span>
                {pos ? (
                  <>
                    <span className="muted">
                      {' '}
                      (line {pos.line}, column {pos.column})
                    </span>
                    <pre className="cl-caret" data-testid="rule-caret">
                      {pos.lineText}
                      {'\n'}
                      <span className="cl-caret-mark">{pos.caret}</span>
                    </pre>
                  </>
                ) : null}
              </div>
            ) : null}
          </div>
          <fieldset className="cl-hints">
            <legend className="sr-only">Fields for the {props.action} rule</legend>
            {props.hints.slice(0, 24).map((h) => (
              <button
                key={h}
                type="button"
                className="btn small mono"
                aria-label={`Insert ${h} into the ${props.action} rule`}
                onClick={() => insert(h)}
              >
                {h}
              </button>
            ))}
          </fieldset>
        </>
      ) : (
        <p className="muted cl-rule-plain">{describeRule(mode === 'locked' ? null : '')}</p>
      )}
    </fieldset>
  )
}
