import { type CSSProperties, type FormEvent, type ReactNode, useState } from 'react'

/** A list page's filters: what the form shows (`draft`) and what the list is queried with (`filters`). */
export interface FilterState<F> {
  readonly draft: F
  readonly filters: F
  /** A setter for one field of the draft, for a TextField's onChange. */
  set(key: keyof F): (value: string) => void
  /** Queries with the draft. */
  apply(): void
  /** Empties the form and the query. */
  clear(): void
  /** Narrows the current query (a row's "only this" button), the form following. */
  only(narrower: Partial<F>): void
}

/** Filters edited in a form and applied on submit, so that typing does not query on every key. */
export function useFilters<F extends object>(empty: F): FilterState<F> {
  const [draft, setDraft] = useState<F>(empty)
  const [filters, setFilters] = useState<F>(empty)
  return {
    draft,
    filters,
    set: (key) => (value) => setDraft({ ...draft, [key]: value }),
    apply: () => setFilters(draft),
    clear: () => {
      setDraft(empty)
      setFilters(empty)
    },
    only: (narrower) => {
      const next = { ...filters, ...narrower }
      setDraft(next)
      setFilters(next)
    },
  }
}

/** The filters form: its fields (`children`), then "Apply filters" and "Clear". */
export function FilterForm<F>(props: {
  state: FilterState<F>
  children: ReactNode
  className?: string
  style?: CSSProperties
  buttonsClassName?: string
}) {
  const submit = (e: FormEvent) => {
    e.preventDefault()
    props.state.apply()
  }
  return (
    <form className={props.className ?? 'panel'} style={props.style} onSubmit={submit} aria-label="Filters">
      {props.children}
      <div className={props.buttonsClassName ?? 'row'}>
        <button type="submit" className="btn primary">
          Apply filters
        </button>
        <button type="button" className="btn" onClick={props.state.clear}>
          Clear
        </button>
      </div>
    </form>
  )
}
