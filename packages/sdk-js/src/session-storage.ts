/**
 * Where the auth session is kept between launches: any key-value store, synchronous (localStorage) or not
 * (AsyncStorage, SecureStore, MMKV, a file in Node).
 */
export interface SessionStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>
  setItem(key: string, value: string): void | Promise<void>
  removeItem(key: string): void | Promise<void>
}

/**
 * Keeps the session in memory only (lost when the process ends). The default outside browsers.
 *
 * @example
 * const client = createClient({ url, storage: memoryStorage() })
 */
export function memoryStorage(): SessionStorage {
  const m = new Map<string, string>()
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  }
}

/**
 * The synchronous key-value shape of the Web Storage API (`localStorage`, `sessionStorage`), declared here so
 * the SDK's types compile without the DOM library (a Node-only or React Native tsconfig).
 */
export interface WebStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/**
 * The browser's `localStorage` (the default in browsers). Mind that any script on the page can read it.
 *
 * @example
 * const client = createClient({ url, storage: localStorageAdapter() })
 */
export function localStorageAdapter(store?: WebStorage): SessionStorage {
  const s = store ?? (globalThis as { localStorage?: WebStorage }).localStorage
  if (!s) throw new TypeError('localStorageAdapter: no localStorage on this platform.')
  return {
    getItem: (k) => s.getItem(k),
    setItem: (k, v) => s.setItem(k, v),
    removeItem: (k) => s.removeItem(k),
  }
}

/** The shape of React Native's AsyncStorage, and of anything with the same three methods. */
export interface AsyncKeyValue {
  getItem(key: string): Promise<string | null | undefined>
  setItem(key: string, value: string): Promise<unknown>
  removeItem(key: string): Promise<unknown>
}

/**
 * Any async key-value store: `@react-native-async-storage/async-storage`, or Expo SecureStore through a
 * three-line adapter (keys there allow only `[A-Za-z0-9._-]`, which the default key satisfies).
 *
 * @example
 * import AsyncStorage from '@react-native-async-storage/async-storage'
 * const client = createClient({ url, storage: asyncStorage(AsyncStorage) })
 *
 * @example
 * import * as SecureStore from 'expo-secure-store'
 * const client = createClient({
 *   url,
 *   storage: asyncStorage({
 *     getItem: (k) => SecureStore.getItemAsync(k),
 *     setItem: (k, v) => SecureStore.setItemAsync(k, v),
 *     removeItem: (k) => SecureStore.deleteItemAsync(k),
 *   }),
 * })
 */
export function asyncStorage(kv: AsyncKeyValue): SessionStorage {
  return {
    getItem: (k) => kv.getItem(k),
    setItem: async (k, v) => void (await kv.setItem(k, v)),
    removeItem: async (k) => void (await kv.removeItem(k)),
  }
}

/** localStorage in a browser, memory elsewhere. */
export function defaultStorage(): SessionStorage {
  try {
    const ls = (globalThis as { localStorage?: WebStorage }).localStorage
    if (ls && typeof (globalThis as { document?: unknown }).document !== 'undefined') {
      // Safari private mode and sandboxed iframes throw on use.
      ls.setItem('bastide.probe', '1')
      ls.removeItem('bastide.probe')
      return localStorageAdapter(ls)
    }
  } catch {}
  return memoryStorage()
}
