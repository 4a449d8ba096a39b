import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http } from '../http.ts'
import { codeChallenge, createCodeVerifier } from '../pkce.ts'
import type { SessionStorage, WebStorage } from '../session-storage.ts'
import type { Session, SessionSink } from './session.ts'

/** What `signIn` takes. */
export interface OAuthSignInOptions {
  /** A built-in provider (`google`, `apple`, `github`, …) or a generic OIDC provider's id. */
  readonly provider: string
  /**
   * Where the browser comes back with `?code=…`: your app link (`myapp://auth-callback`) or a page of your
   * single-page app. Its origin or scheme must be listed in the server's `BASTIDE_TRUSTED_ORIGINS`.
   */
  readonly redirectTo: string
  /** Scopes to ask for on top of the provider's defaults. */
  readonly scopes?: readonly string[]
  readonly signal?: AbortSignal
}

export interface OAuthServiceOptions {
  /**
   * Where the PKCE verifier waits while the user is at the provider. Default: the tab's `sessionStorage` in
   * browsers (survives the page reload of a same-tab redirect), memory elsewhere. Pass a persistent store
   * (AsyncStorage, SecureStore) if your app may be killed while the system browser is open.
   */
  readonly storage?: SessionStorage | undefined
  /** Key prefix in `storage` (default `bastide.session`; the verifier is kept under `<key>.oauth`). */
  readonly storageKey?: string | undefined
}

interface Pending {
  readonly verifier: string
  readonly redirectTo: string
  /** ms since epoch: flows older than the server's state lifetime are dropped. */
  readonly startedAt: number
}

/** The server forgets an unfinished flow after 10 minutes; the verifier is useless after that. */
const PENDING_MS = 10 * 60 * 1000

/**
 * OAuth and OpenID Connect sign-in for apps that send the user to the provider in a browser they do not
 * control: React Native (system browser or `ASWebAuthenticationSession`, back through a deep link) and
 * single-page apps on another origin than the server. The browser brings back a one-time code; only this
 * client holds the PKCE verifier that turns it into a session, so a stolen link is worth nothing.
 *
 * @example
 * // React Native with Expo
 * const { url } = await client.auth.signInWithOAuth({ provider: 'google', redirectTo: 'myapp://auth-callback' })
 * const result = await WebBrowser.openAuthSessionAsync(url, 'myapp://auth-callback')
 * if (result.type === 'success') await client.auth.exchangeCodeForSession(result.url)
 */
export class OAuthService {
  readonly #http: Http
  readonly #auth: SessionSink
  readonly #storage: SessionStorage | undefined
  readonly #key: string
  #pending: Pending | undefined

  constructor(http: Http, auth: SessionSink, opts: OAuthServiceOptions = {}) {
    this.#http = http
    this.#auth = auth
    this.#storage = opts.storage ?? tabStorage()
    this.#key = `${opts.storageKey ?? 'bastide.session'}.oauth`
  }

  /**
   * Starts a sign-in: makes a PKCE verifier, registers its challenge with the server and answers the URL to
   * open in a browser. The verifier stays in this client (memory, and the storage chosen in the options)
   * until {@link exchangeCode}. Starting again replaces an unfinished sign-in.
   *
   * @example
   * const { url } = await oauth.signIn({ provider: 'github', redirectTo: 'https://app.example.com/auth/done' })
   * window.location.assign(url)
   */
  async signIn(opts: OAuthSignInOptions): Promise<{ url: string }> {
    const verifier = createCodeVerifier()
    const res = await this.#http.request<{ url?: unknown }>('/api/auth/sign-in/social', {
      method: 'POST',
      auth: 'none',
      body: {
        provider: opts.provider,
        callbackURL: opts.redirectTo,
        // Errors must come back to the app too, not strand the user on the server's error page.
        errorCallbackURL: opts.redirectTo,
        disableRedirect: true,
        codeChallenge: await codeChallenge(verifier),
        ...(opts.scopes?.length ? { scopes: [...opts.scopes] } : {}),
      },
      signal: opts.signal,
    })
    if (typeof res?.url !== 'string') {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: 200,
        message: 'The server answered no authorization URL.',
      })
    }
    const pending: Pending = { verifier, redirectTo: opts.redirectTo, startedAt: Date.now() }
    this.#pending = pending
    await this.#save(pending)
    return { url: res.url }
  }

  /**
   * Finishes a sign-in: takes the URL the browser came back to (or just its `code`), swaps the code and the
   * verifier for a session and makes it the client's session. The code works once and for two minutes.
   * Throws the provider's or the server's error when the URL carries one (`?error=access_denied`).
   *
   * @example
   * Linking.addEventListener('url', async ({ url }) => {
   *   if (url.startsWith('myapp://auth-callback')) await oauth.exchangeCode(url)
   * })
   */
  async exchangeCode(urlOrCode: string): Promise<Session> {
    const { code, error, description } = parseCallback(urlOrCode)
    if (error) {
      await this.#clear()
      throw new BastideError({
        code: error.toUpperCase().replace(/[^A-Z0-9_]/g, '_'),
        status: 400,
        message: description ?? `The sign-in did not complete (${error}).`,
        details: { error },
      })
    }
    if (!code) {
      throw new BastideError({
        code: ErrorCodes.BAD_REQUEST,
        status: 0,
        message: 'No code in this URL: pass the whole URL the browser came back to, or its code.',
      })
    }
    const pending = this.#pending ?? (await this.#load())
    if (!pending) {
      throw new BastideError({
        code: 'OAUTH_NOT_STARTED',
        status: 0,
        message: 'No sign-in is waiting for a code here: call signIn() first, with this client.',
      })
    }
    // The server spends the code on the first attempt, right or wrong: the verifier is no use after it.
    await this.#clear()
    const res = await this.#http.request<{ token: string }>('/api/auth/oauth/exchange', {
      method: 'POST',
      auth: 'none',
      body: { code, codeVerifier: pending.verifier },
      retry: false,
    })
    return this.#auth.setSessionFromToken(res.token)
  }

  async #save(p: Pending): Promise<void> {
    try {
      await this.#storage?.setItem(this.#key, JSON.stringify(p))
    } catch {
      // A full or locked store: the in-memory copy still works while the app stays alive.
    }
  }

  async #load(): Promise<Pending | undefined> {
    try {
      const raw = await this.#storage?.getItem(this.#key)
      const p = raw ? (JSON.parse(raw) as Pending) : undefined
      return p && typeof p.verifier === 'string' && Date.now() - p.startedAt < PENDING_MS ? p : undefined
    } catch {
      return undefined
    }
  }

  async #clear(): Promise<void> {
    this.#pending = undefined
    try {
      await this.#storage?.removeItem(this.#key)
    } catch {}
  }
}

/** `code`, `error` and `error_description` from a callback URL (query or fragment), or a bare code. */
function parseCallback(input: string): { code?: string; error?: string; description?: string } {
  const s = input.trim()
  if (!/[?#&=]/.test(s)) return { code: s }
  // By hand: `myapp://…` is not parsed alike by every runtime's URL (React Native's is partial).
  const params = new URLSearchParams()
  for (const part of s.split(/[?#]/).slice(s.includes('?') || s.includes('#') ? 1 : 0)) {
    for (const [k, v] of new URLSearchParams(part)) params.set(k, v)
  }
  const code = params.get('code') ?? undefined
  const error = params.get('error') ?? undefined
  const description = params.get('error_description') ?? undefined
  return {
    ...(code ? { code } : {}),
    ...(error ? { error } : {}),
    ...(description ? { description } : {}),
  }
}

/** The tab's sessionStorage in browsers (a same-tab redirect reloads the page), else none. */
function tabStorage(): SessionStorage | undefined {
  try {
    const ss = (globalThis as { sessionStorage?: WebStorage }).sessionStorage
    if (!ss || typeof (globalThis as { document?: unknown }).document === 'undefined') return undefined
    return {
      getItem: (k) => ss.getItem(k),
      setItem: (k, v) => ss.setItem(k, v),
      removeItem: (k) => ss.removeItem(k),
    }
  } catch {
    // Sandboxed iframes throw on access.
    return undefined
  }
}
