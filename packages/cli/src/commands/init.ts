import fs from 'node:fs'
import path from 'node:path'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { CONFIG_FILE, PROJECT_DIR, type ProjectConfig } from '../lib/project.ts'
import type { RegisterCommand } from './index.ts'

interface InitOptions {
  readonly name?: string
  readonly force?: boolean
}

const DEFAULT_URL = 'http://localhost:8787'

const ENV_EXAMPLE = `# Copy to .env for \`bastide serve\` in this folder. The real environment always wins over .env.
# Nothing is required: by default the server runs embedded PostgreSQL with its data in .bastide/.

# PORT=8787
# HOST=127.0.0.1

# An external PostgreSQL instead of the embedded one:
# DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres

# Where embedded PostgreSQL and local files live (relative to this folder):
# BASTIDE_DATA_DIR=.bastide

# A key with every scope, for scripts and \`bastide login\`: bst_sk_ then at least 25 random characters, e.g.
#   node -e "console.log('bst_sk_' + require('node:crypto').randomBytes(24).toString('hex'))"
# BASTIDE_ADMIN_KEY=

# Signs sessions and encrypts settings; generated into the data folder when unset:
# BASTIDE_SECRET=

# BASTIDE_LOG_LEVEL=info
# BASTIDE_PUBLIC_URL=http://localhost:8787
`

const GITIGNORE_LINES = ['.bastide/', '.env'] as const

function readme(name: string, url: string): string {
  return `# ${name}

A Bastide project (backend: collections, auth, storage, realtime).

\`\`\`sh
bastide serve                     # the dev server on ${url}, data in .bastide/ (console at ${url}/_/)
bastide login --url ${url} --key bst_sk_…   # then schema, keys, users… commands talk to it
\`\`\`

- \`bastide/config.json\`: the project's name and its development server's URL.
- \`bastide/schema/\`: collections, buckets, channels and rules as files (\`bastide schema pull\`).
- \`bastide/migrations/\`: ordered migrations generated from schema diffs (\`bastide migrations new\`).
- \`.env.example\`: the variables \`bastide serve\` reads; copy it to \`.env\` (never committed).
`
}

/** `bastide init [dir]`: a project folder that `bastide serve` and the schema commands recognise. */
export const initCommand: RegisterCommand = (program, ctx) => {
  program
    .command('init')
    .description(
      'Create a Bastide project: bastide/ (config, schema, migrations), .env.example, .gitignore lines',
    )
    .argument('[dir]', 'the project folder (created when missing)', '.')
    .option('--name <name>', "the project's name (default: the folder's name)")
    .option('--force', 'write into a bastide/ folder that is not empty')
    // --url is the program's global option (commander reads it anywhere on the line): here, the dev server's URL.
    .addHelpText('after', `\nWith --url URL, the project's development server URL (default ${DEFAULT_URL}).`)
    .action(async (dir: string, opts: InitOptions) => {
      const root = path.resolve(ctx.cwd, dir)
      const url = ctx.options().url ?? DEFAULT_URL
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
        throw new CliError(`--url must be an http:// or https:// URL, not "${url}".`, EXIT.usage, 'USAGE')
      const config: ProjectConfig = { name: opts.name?.trim() || path.basename(root), url }
      const bastideDir = path.join(root, PROJECT_DIR)
      if (fs.existsSync(bastideDir) && fs.readdirSync(bastideDir).length > 0 && !opts.force)
        throw new CliError(
          `${bastideDir} is not empty: this folder already holds a project (use --force to write over its config).`,
          EXIT.failed,
          'PROJECT_EXISTS',
        )
      const created: string[] = []
      const write = (rel: string, text: string, overwrite: boolean) => {
        const file = path.join(root, rel)
        if (!overwrite && fs.existsSync(file)) return
        fs.mkdirSync(path.dirname(file), { recursive: true })
        // Whole or not at all: a second init never finds half a file.
        const tmp = `${file}.${process.pid}.tmp`
        fs.writeFileSync(tmp, text)
        fs.renameSync(tmp, file)
        created.push(rel)
      }
      write(path.join(PROJECT_DIR, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, true)
      for (const sub of ['schema', 'migrations']) {
        const d = path.join(bastideDir, sub)
        if (!fs.existsSync(d)) {
          fs.mkdirSync(d, { recursive: true })
          created.push(`${path.join(PROJECT_DIR, sub)}/`)
        }
      }
      // A project's own files are its own: written only when absent.
      write('.env.example', ENV_EXAMPLE, false)
      write('README.md', readme(config.name, url), false)
      const gitignore = path.join(root, '.gitignore')
      const existing = fs.existsSync(gitignore) ? fs.readFileSync(gitignore, 'utf8') : ''
      const have = new Set(existing.split(/\r?\n/).map((l) => l.trim()))
      const missing = GITIGNORE_LINES.filter((l) => !have.has(l))
      if (missing.length > 0) {
        const sep = existing === '' || existing.endsWith('\n') ? '' : '\n'
        write('.gitignore', `${existing}${sep}${missing.join('\n')}\n`, true)
      }
      ctx.out.result({ root, config, created }, [
        `Created the Bastide project ${config.name} in ${root}:`,
        ...created.map((f) => `  ${f}`),
        '',
        `Next: cd ${path.relative(ctx.cwd, root) || '.'} && bastide serve`,
      ])
    })
}
