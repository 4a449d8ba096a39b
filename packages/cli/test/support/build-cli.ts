// Once per run, before any test file: the CLI's and the server's builds, so that no test pays for (or races on)
// the first run's build.
export default async function setup() {
  const cli = (await import(new URL('../../scripts/build.mjs', import.meta.url).href)) as {
    ensureBuilt(): Promise<void>
  }
  await cli.ensureBuilt()
  const server = (await import(new URL('../../../server/scripts/build.mjs', import.meta.url).href)) as {
    ensureBuilt(): Promise<void>
  }
  await server.ensureBuilt()
}
