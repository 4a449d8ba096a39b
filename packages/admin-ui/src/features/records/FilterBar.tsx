import { BastideError, ErrorCodes } from '@bastide/sdk'
import { type KeyboardEvent, useId, useRef, useState } from 'react'
import { applyCompletion, type FieldPath, suggest, wordAt } from './filter-complete.ts'

/**
 * The filter input: the filter language, with completion of field names (relation paths included) at the
 * caret. Enter applies (or takes the highlighted suggestion), Tab takes a suggestion, Escape closes the list.
 * An INVALID_FILTER from the server is shown under the text, at its position.
 */
export function FilterBar(props: {
  value: string
  paths: readonly FieldPath[]
  error: unknown
  onApply: (filter: string) => void
}) {
  const [text, setText] = useState(props.value)
  const [caret, setCaret] = useState(props.value.length)
  const [open, setOpen] = useState(false)
  const [hi, setHi] = useState(0)
  const inputRef = useRef<HTMLInputElement>(null)
  const listId = useId()
  const inputId = useId()
  const word = wordAt(text, caret)
  const options = open && word ? suggest(props.paths, word.word) : []
  const showList = options.length > 0

  const take = (p: FieldPath) => {
    const r = applyCompletion(text, caret, p.path)
    setText(r.text)
    setCaret(r.caret)
    setOpen(p.type === 'relation')
    setHi(0)
    requestAnimationFrame(() => {
      inputRef.current?.setSelectionRange(r.caret, r.caret)
      inputRef.current?.focus()
    })
  }
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (showList && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault()
      setHi((h) => (h + (e.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length)
    } else if (showList && (e.key === 'Tab' || (e.key === 'Enter' && hi >= 0))) {
      e.preventDefault()
      take(options[Math.min(hi, options.length - 1)]!)
    } else if (e.key === 'Enter') {
      e.preventDefault()
      setOpen(false)
      props.onApply(text)
    } else if (e.key === 'Escape' && showList) {
      e.preventDefault()
      setOpen(false)
    }
  }
  const position =
    props.error instanceof BastideError && props.error.code === ErrorCodes.INVALID_FILTER
      ? (props.error.details as { position?: number } | undefined)?.position
      : undefined

  return (
    <div className="records-filter">
      <div className="row">
        <label htmlFor={inputId} className="records-filter-label">
          Filter
        </label>
        <div className="records-combo grow">
          <input
            ref={inputRef}
            id={inputId}
            type="text"
            role="combobox"
            className="mono"
            autoComplete="off"
            spellCheck={false}
            aria-autocomplete="list"
            aria-expanded={showList}
            aria-controls={listId}
            aria-activedescendant={showList ? `${listId}-${hi}` : undefined}
            aria-describedby={`${inputId}-hint`}
            placeholder="e.g. status = 'published' && author.name ~ 'ada'"
            value={text}
            onChange={(e) => {
              setText(e.target.value)
              setCaret(e.target.selectionStart ?? e.target.value.length)
              setOpen(true)
              setHi(0)
            }}
            onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
            onKeyDown={onKeyDown}
            onBlur={() => setOpen(false)}
          />
          <div id={listId} role="listbox" aria-label="Fields" className="records-suggest" hidden={!showList}>
            {options.map((o, i) => (
              <div
                key={o.path}
                id={`${listId}-${i}`}
                role="option"
                tabIndex={-1}
                aria-selected={i === hi}
                onMouseDown={(e) => {
                  e.preventDefault()
                  take(o)
                }}
              >
                <span className="mono">{o.path}</span> <span className="muted">{o.type}</span>
              </div>
            ))}
          </div>
        </div>
        <button type="button" className="btn" onClick={() => props.onApply(text)}>
          Apply
        </button>
        {props.value ? (
          <button
            type="button"
            className="btn"
            onClick={() => {
              setText('')
              props.onApply('')
            }}
          >
            Clear
          </button>
        ) : null}
      </div>
      <span id={`${inputId}-hint`} className="sr-only">
        Field names complete as you type: arrows to choose, Tab or Enter to take one. Enter applies the
        filter.
      </span>
      {position !== undefined ? (
        <pre className="records-filter-error">
          <span className="sr-only">Where the filter is wrong: </span>
          {props.value}
          {'\n'}
          {' '.repeat(Math.max(0, position))}^ {(props.error as Error).message}
        </pre>
      ) : null}
    </div>
  )
}
