/**
 * Object keys as folders. Storage has no folders: a key `photos/2024/a.jpg` is one object, and "photos/" is a
 * prefix shared by keys. The console shows the keys under the current prefix as files, and the first segment
 * of longer keys as folders (derived from the keys, since the list API has no delimiter).
 */

/** One step of the breadcrumb: its label and the prefix it opens (`''` is the bucket's root). */
export interface Crumb {
  readonly label: string
  readonly prefix: string
}

/** A prefix as the console uses it: '' or ending with '/', without leading slashes. */
export function normalizePrefix(p: string): string {
  const trimmed = p.replace(/^\/+/, '')
  if (trimmed === '') return ''
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`
}

/** `a/b/` → root, a/, a/b/. */
export function breadcrumb(prefix: string): Crumb[] {
  const crumbs: Crumb[] = [{ label: '', prefix: '' }]
  let at = ''
  for (const part of prefix.split('/')) {
    if (part === '') continue
    at += `${part}/`
    crumbs.push({ label: part, prefix: at })
  }
  return crumbs
}

/** The prefix one level up: `a/b/` → `a/`, `a/` → ''. */
export function parentPrefix(prefix: string): string {
  const crumbs = breadcrumb(prefix)
  return crumbs.length >= 2 ? crumbs[crumbs.length - 2]!.prefix : ''
}

/**
 * The key for an uploaded file: the current prefix and its name (or its path inside a dropped folder).
 * Backslashes become slashes, empty and `.`/`..` segments are dropped, so a key never escapes the prefix;
 * undefined when nothing of the name is left.
 */
export function uploadKey(prefix: string, name: string): string | undefined {
  const parts = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.' && s !== '..')
  return parts.length ? `${prefix}${parts.join('/')}` : undefined
}

/** Where a page of the folder view starts: a server cursor, and the folder the previous page ended inside. */
export interface ViewCursor {
  readonly after?: string | undefined
  /** Already shown on the previous page: its remaining keys are skipped, not shown as the folder again. */
  readonly continuing?: string | undefined
}

export interface FolderPage<T> {
  readonly folders: readonly { readonly name: string; readonly prefix: string }[]
  readonly files: readonly { readonly name: string; readonly item: T }[]
  /** The next page's start, or null on the last page. */
  readonly next: ViewCursor | null
}

/**
 * One page of the folder view under `prefix`, from the flat key listing (the list API has no delimiter).
 * Keys are listed in byte order, so a folder's keys are contiguous: a folder is shown once, where its first key
 * comes, and the rest of its keys are skipped. Pages hold exactly `want` entries (but the last): server pages
 * are read with growing sizes (a folder of thousands of objects costs a few requests, not one per fifty keys),
 * and when the page fills up inside a server page, that page is asked again cut at that entry, for a cursor
 * there (cursors are opaque). After `maxRequests` reads the page is shorter and `next` goes on from there.
 */
export async function collectFolderPage<T extends { readonly key: string }>(
  list: (
    after: string | undefined,
    limit: number,
  ) => Promise<{
    readonly items: readonly T[]
    readonly nextCursor: string | null
  }>,
  prefix: string,
  start: ViewCursor,
  opts: { want?: number; maxLimit?: number; maxRequests?: number } = {},
): Promise<FolderPage<T>> {
  const want = opts.want ?? 50
  const maxLimit = opts.maxLimit ?? 1000
  const maxRequests = opts.maxRequests ?? 12
  const folders: { name: string; prefix: string }[] = []
  const files: { name: string; item: T }[] = []
  let lastFolder = start.continuing
  let after = start.after
  for (let request = 0; ; request++) {
    const limit = Math.min(maxLimit, want * 2 ** request)
    const page = await list(after, limit)
    for (let i = 0; i < page.items.length; i++) {
      const item = page.items[i]!
      if (!item.key.startsWith(prefix)) continue
      const rest = item.key.slice(prefix.length)
      const slash = rest.indexOf('/')
      if (slash < 0) {
        files.push({ name: rest, item })
        lastFolder = undefined
      } else {
        const name = rest.slice(0, slash)
        if (name !== lastFolder) folders.push({ name, prefix: `${prefix}${name}/` })
        lastFolder = name
      }
      if (folders.length + files.length >= want && i < page.items.length - 1) {
        const cut = await list(after, i + 1)
        return {
          folders,
          files,
          next: cut.nextCursor ? { after: cut.nextCursor, continuing: lastFolder } : null,
        }
      }
    }
    if (!page.nextCursor || page.items.length === 0) return { folders, files, next: null }
    after = page.nextCursor
    if (folders.length + files.length >= want || request + 1 >= maxRequests)
      return { folders, files, next: { after, continuing: lastFolder } }
  }
}
