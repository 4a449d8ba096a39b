import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** A server the CLI talks to: its URL and a secret API key (`bst_sk_…`). */
export interface Profile {
  readonly url: string
  readonly key: string
}

interface ProfilesFile {
  default?: string
  profiles: Record<string, Profile>
}

/**
 * Profiles saved by `bastide login`, in `$XDG_CONFIG_HOME/bastide/profiles.json` (default `~/.config/…`), readable by
 * the user only: the file holds secret keys.
 */
export class ProfileStore {
  readonly file: string

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config')
    this.file = path.join(base, 'bastide', 'profiles.json')
  }

  read(): ProfilesFile {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.file, 'utf8')) as ProfilesFile
      return { default: parsed.default, profiles: parsed.profiles ?? {} }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} }
      throw new Error(`${this.file} is not valid JSON: fix or delete it`)
    }
  }

  get(name?: string): (Profile & { name: string }) | undefined {
    const file = this.read()
    const chosen = name ?? file.default
    const profile = chosen ? file.profiles[chosen] : undefined
    return chosen && profile ? { name: chosen, ...profile } : undefined
  }

  /** Saves `profile` as `name`; the first one saved (or `makeDefault`) becomes the default. */
  save(name: string, profile: Profile, makeDefault = false): void {
    const file = this.read()
    file.profiles[name] = { url: profile.url, key: profile.key }
    if (makeDefault || !file.default || !file.profiles[file.default]) file.default = name
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    // Written whole then renamed, mode 0600 from the first byte.
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  remove(name: string): boolean {
    const file = this.read()
    if (!file.profiles[name]) return false
    delete file.profiles[name]
    if (file.default === name) file.default = Object.keys(file.profiles)[0]
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 })
    fs.renameSync(tmp, this.file)
    return true
  }
}
