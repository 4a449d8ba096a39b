import { useQuery } from '@tanstack/react-query'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { MigrationsTable } from './MigrationsTable.tsx'
import { SchemaDocumentView } from './SchemaDocumentView.tsx'
import { SchemaImport } from './SchemaImport.tsx'
import { downloadText, formatSchema } from './schema-file.ts'

export const schemaKey = ['schema', 'document'] as const

/**
 * Schema as code in the console: the instance's schema document (read, download), importing one (plan, then
 * apply exactly that plan), and the migrations applied here. The same API as `bastide schema` and `migrations`.
 */
export function SchemaPage() {
  const client = useClient()
  const doc = useQuery({
    queryKey: schemaKey,
    queryFn: ({ signal }) => client.admin.schema.export({ signal }),
  })
  return (
    <Page
      title="Schema"
      subtitle="collections, buckets and channel definitions as one document"
      actions={
        <>
          <button type="button" className="btn" onClick={() => void doc.refetch()} disabled={doc.isFetching}>
            {doc.isFetching ? 'Refreshing…' : 'Refresh'}
          </button>
          <button
            type="button"
            className="btn primary"
            disabled={!doc.data}
            onClick={() => doc.data && downloadText(formatSchema(doc.data), 'schema.json')}
          >
            Download schema.json
          </button>
        </>
      }
    >
      <div className="stack">
        <section className="panel" aria-labelledby="schema-current">
          <h2 id="schema-current">This instance’s schema</h2>
          <ErrorNote error={doc.error} />
          {doc.isPending ? <Loading /> : doc.data ? <SchemaDocumentView doc={doc.data} /> : null}
        </section>
        <section className="panel" aria-labelledby="schema-import">
          <h2 id="schema-import">Import a schema</h2>
          <p className="muted">
            Nothing changes until you apply: the server first plans what the file would change here.
          </p>
          <SchemaImport />
        </section>
        <section className="panel" aria-labelledby="schema-migrations">
          <h2 id="schema-migrations">Migrations applied</h2>
          <MigrationsTable />
        </section>
        <section className="panel" aria-labelledby="schema-cli">
          <h2 id="schema-cli">Keeping the schema in git</h2>
          <p>
            The <code>bastide</code> command moves the same document between your repository and your
            instances: <code>bastide schema pull</code> writes it as files (one per collection, bucket and
            channel), <code>bastide schema diff</code> shows what pushing them would change,{' '}
            <code>bastide schema push</code> applies them; <code>bastide migrations new</code> and{' '}
            <code>bastide migrations up</code> record and apply numbered steps. See{' '}
            <code>docs/schema-as-code.md</code>.
          </p>
        </section>
      </div>
    </Page>
  )
}
