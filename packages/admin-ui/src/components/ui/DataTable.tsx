import type { ReactNode } from 'react'

/** A header cell: its text, or `{ hidden }` for a column named only for screen readers (a row's actions). */
export type Column = string | { readonly hidden: string }

/**
 * A table of rows under one header row, named by `label` for assistive technology (and the tests). Column
 * names must be unique within a table: they key the header cells.
 */
export function DataTable(props: {
  label: string
  columns: readonly Column[]
  className?: string
  children: ReactNode
}) {
  return (
    <table className={props.className ? `table ${props.className}` : 'table'} aria-label={props.label}>
      <thead>
        <tr>
          {props.columns.map((c) =>
            typeof c === 'string' ? (
              <th key={c} scope="col">
                {c}
              </th>
            ) : (
              <th key={c.hidden} scope="col">
                <span className="sr-only">{c.hidden}</span>
              </th>
            ),
          )}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  )
}
