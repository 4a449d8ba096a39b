import { type ReactNode, useEffect } from 'react'

/** A page: its title (also the document's), actions on the right, then the content. */
export function Page(props: {
  title: string
  actions?: ReactNode
  children: ReactNode
  subtitle?: ReactNode
}) {
  useEffect(() => {
    document.title = `${props.title} · Bastide console`
  }, [props.title])
  return (
    <section aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.subtitle ? <span className="muted">{props.subtitle}</span> : null}
        {props.actions ? <div className="actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  )
}

/** Shown while a first load runs. */
export function Loading(props: { label?: string }) {
  return (
    <p className="muted" role="status">
      {props.label ?? 'Loading…'}
    </p>
  )
}

/** Previous / next for offset-paged lists (users, audit). */
export function Pager(props: {
  page: number
  totalPages?: number | undefined
  hasNext: boolean
  onPage: (page: number) => void
  label?: string
}) {
  return (
    <nav className="pager" aria-label={props.label ?? 'Pages'}>
      <button
        type="button"
        className="btn small"
        disabled={props.page <= 1}
        onClick={() => props.onPage(props.page - 1)}
      >
        Previous
      </button>
      <span className="muted">
        Page {props.page}
        {props.totalPages !== undefined ? ` of ${Math.max(1, props.totalPages)}` : ''}
      </span>
      <button
        type="button"
        className="btn small"
        disabled={!props.hasNext}
        onClick={() => props.onPage(props.page + 1)}
      >
        Next
      </button>
    </nav>
  )
}
