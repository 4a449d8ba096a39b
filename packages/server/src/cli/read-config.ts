import { type Config, ConfigError, loadConfig } from '../config/load-config.ts'

/**
 * The configuration from the environment for a command (the server, a CLI), or undefined once every bad
 * variable has been printed: the caller exits with 2. Anything but a configuration error is a bug and throws.
 */
export function readConfig(env: NodeJS.ProcessEnv): Config | undefined {
  try {
    return loadConfig(env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return undefined
  }
}
