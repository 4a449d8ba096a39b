import fs from 'node:fs'
import path from 'node:path'
import { generateTypes } from '../../../sdk-js/src/typegen.ts'
import type { RegisterCommand } from './index.ts'

interface TypegenOptions {
  readonly out?: string
  readonly schema: string
  readonly register: boolean
}

/**
 * `bastide typegen`: the SDK's generator (the same as the SDK's `bastide-typegen` bin) with the connection's
 * credentials. Reads the collections with the key (it needs the `schema` scope) and writes TypeScript declarations.
 */
export const typegenCommand: RegisterCommand = (program, ctx) => {
  program
    .command('typegen')
    .description("Write TypeScript types for the server's collections (the key needs the schema scope)")
    .option('--out <file>', 'write them to this file (default: stdout)')
    .option('--schema <name>', "the schema type's name", 'AppSchema')
    .option('--no-register', "do not register the schema with @bastide/sdk (declare module '@bastide/sdk')")
    .action(async (opts: TypegenOptions) => {
      const { client } = ctx.connect()
      const collections = await ctx.call(() => client.admin.collections.list())
      const text = generateTypes(collections, { schemaName: opts.schema, register: opts.register })
      if (!opts.out) {
        ctx.out.result({ collections: collections.length, types: text }, text.replace(/\n$/, ''))
        return
      }
      const file = path.resolve(ctx.cwd, opts.out)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      // Renamed into place: an editor or a type checker watching the file never reads half of it.
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, text)
      fs.renameSync(tmp, file)
      ctx.out.result(
        { out: file, collections: collections.length, bytes: Buffer.byteLength(text) },
        `${collections.length} collections → ${file}`,
      )
    })
}
