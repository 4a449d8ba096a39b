/** What `import … from '@bastide/sdk/functions'` resolves to inside the sandbox: `defineFunction` is identity. */
const FUNCTIONS_MODULE = `data:text/javascript,${encodeURIComponent(
  'export const defineFunction = (d) => d; export default { defineFunction };',
)}`

const SDK_FUNCTIONS = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(['"])@bastide\/sdk\/functions\2/g

/** The source as the sandbox loads it: `@bastide/sdk/functions` pointed at the runner's own module. */
export function prepareSource(source: string): string {
  return source.replace(SDK_FUNCTIONS, (_, head, quote) => `${head}${quote}${FUNCTIONS_MODULE}${quote}`)
}

/** Deno's words for an import the sandbox cannot satisfy (a package, a file, a URL). */
const UNRESOLVED =
  /Import ".*" not a dependency|--no-npm|--no-remote|Requires (read|import) access|relative URL with a cannot-be-a-base|Module not found/

/** Why a module did not load, as its author should read it. */
export function loadErrorMessage(error: string): string {
  if (!UNRESOLVED.test(error)) return `The function does not load: ${error}`
  return `The function imports something the sandbox does not provide (only @bastide/sdk/functions and node: built-ins are there): bundle it in with \`bastide functions deploy\`. ${error}`
}
