import type { SchemaPlan } from '@bastide/protocol'

/** A plan as the server made it: one row per change, the destructive ones marked in words and in colour. */
export function PlanTable(props: { plan: SchemaPlan }) {
  const { changes, hash } = props.plan
  const destructive = changes.filter((c) => c.destructive).length
  return (
    <div className="stack">
      <p role="status">
        {changes.length === 0
          ? 'No changes: this instance already matches the schema.'
          : `${changes.length === 1 ? '1 change' : `${changes.length} changes`}${
              destructive > 0 ? `, ${destructive} destructive` : ''
            }.`}{' '}
        <span className="muted">
          Plan hash <code className="schema-hash">{hash}</code>
        </span>
      </p>
      {changes.length > 0 ? (
        <table className="table" aria-label="Planned changes">
          <thead>
            <tr>
              <th scope="col">Change</th>
              <th scope="col">Target</th>
              <th scope="col">What it does</th>
              <th scope="col">Data</th>
            </tr>
          </thead>
          <tbody>
            {changes.map((c) => (
              // Keyed with the description too: one collection can get two indexes in one plan.
              <tr
                key={`${c.op}:${c.target}:${c.description}`}
                className={c.destructive ? 'schema-destructive' : undefined}
              >
                <td className="mono">{c.op}</td>
                <td className="mono">{c.target}</td>
                <td>{c.description}</td>
                <td>
                  {c.destructive ? (
                    <span className="badge danger">destructive: can lose data</span>
                  ) : (
                    <span className="muted">kept</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  )
}
