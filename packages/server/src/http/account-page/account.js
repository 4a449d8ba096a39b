// The account page's only script (the CSP allows no inline script). Everything goes through the public
// API at /api/auth with the session cookie better-auth sets for this origin: the page is a plain client.
;(() => {
  const AUTH = '/api/auth'
  const $ = (id) => document.getElementById(id)

  /** better-auth's built-in providers, by their ids, with the names people know them by. */
  const PROVIDER_NAMES = {
    google: 'Google',
    apple: 'Apple',
    github: 'GitHub',
    microsoft: 'Microsoft',
    gitlab: 'GitLab',
    discord: 'Discord',
  }

  class ApiError extends Error {
    constructor(message, code, status) {
      super(message)
      this.code = code
      this.status = status
    }
  }

  /** One call to /api/auth; errors arrive as {code, message, status, details}: the message is shown. */
  async function api(path, body, method) {
    const m = method ?? (body === undefined ? 'GET' : 'POST')
    const init = { method: m, credentials: 'include', headers: { accept: 'application/json' } }
    if (m !== 'GET') {
      init.headers['content-type'] = 'application/json'
      init.body = JSON.stringify(body ?? {})
    }
    const res = await fetch(AUTH + path, init)
    const text = await res.text()
    let data = null
    try {
      data = text ? JSON.parse(text) : null
    } catch {
      data = text
    }
    if (!res.ok) {
      const message =
        data && typeof data.message === 'string' ? data.message : `Request failed (${res.status}).`
      throw new ApiError(message, data?.code, res.status)
    }
    return data
  }

  // Messages ----------------------------------------------------------------------------------------

  function showError(message) {
    const el = $('error')
    el.textContent = message
    el.hidden = !message
    if (message) $('notice').hidden = true
  }

  function showNotice(message) {
    const el = $('notice')
    el.textContent = message
    el.hidden = !message
  }

  /** Runs an action from a button or form: one at a time, its error shown, the trigger disabled meanwhile. */
  function action(trigger, fn) {
    return async (event) => {
      event?.preventDefault()
      showError('')
      const buttons = trigger instanceof HTMLFormElement ? [...trigger.querySelectorAll('button')] : [trigger]
      for (const b of buttons) b.disabled = true
      try {
        await fn(event)
      } catch (err) {
        showError(err instanceof Error ? err.message : String(err))
      } finally {
        for (const b of buttons) b.disabled = false
      }
    }
  }

  const on = (id, fn) => {
    const el = $(id)
    el.addEventListener(el instanceof HTMLFormElement ? 'submit' : 'click', action(el, fn))
  }

  const formValue = (form, name) => new FormData(form).get(name)?.toString() ?? ''

  const formatDate = (v) => (v ? new Date(v).toLocaleString() : '')

  /** "Chrome on Linux" from a User-Agent; the raw string stays in the row's title. */
  function device(ua) {
    if (!ua) return 'Unknown device'
    const browser =
      [
        [/Edg\//, 'Edge'],
        [/OPR\//, 'Opera'],
        [/HeadlessChrome/, 'Headless Chrome'],
        [/Chrome\//, 'Chrome'],
        [/Firefox\//, 'Firefox'],
        [/Safari\//, 'Safari'],
        [/curl\//, 'curl'],
      ].find(([re]) => re.test(ua))?.[1] ?? ua.split(/[\s/]/)[0]
    const os = [
      [/Windows/, 'Windows'],
      [/Android/, 'Android'],
      [/iPhone|iPad/, 'iOS'],
      [/Mac OS X/, 'macOS'],
      [/Linux/, 'Linux'],
    ].find(([re]) => re.test(ua))?.[1]
    return os ? `${browser} on ${os}` : browser
  }

  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag)
    for (const [k, v] of Object.entries(props)) {
      if (k === 'dataset') Object.assign(e.dataset, v)
      else if (k in e) e[k] = v
      else e.setAttribute(k, v)
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c)
    return e
  }

  // WebAuthn: base64url <-> ArrayBuffer, as @simplewebauthn's JSON expects ----------------------------

  function toBuffer(s) {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4))
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer
  }

  function toBase64url(buf) {
    let bin = ''
    for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b)
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  }

  function requireWebAuthn() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      throw new Error(
        'This browser cannot use passkeys here (they need HTTPS, or http://localhost, and a supporting browser).',
      )
    }
  }

  /**
   * A passkey belongs to one host name, the host of the server's public URL (its rpID). A page opened at
   * another address of the same server (http://127.0.0.1:8787 while that is http://localhost:8787) cannot
   * use it: say which address works, rather than let the browser fail with a SecurityError.
   */
  function requireRpId(rpId) {
    const host = location.hostname
    if (!rpId || host === rpId || host.endsWith(`.${rpId}`)) return
    throw new Error(
      `This page was opened at ${location.origin}, but passkeys here belong to ${rpId}, the host of the ` +
        "server's public URL (BASTIDE_PUBLIC_URL): open this page there, or set BASTIDE_PUBLIC_URL to the " +
        'address you use.',
    )
  }

  async function registerPasskey(name) {
    requireWebAuthn()
    const o = await api('/passkey/generate-register-options')
    requireRpId(o.rp?.id)
    const cred = await navigator.credentials.create({
      publicKey: {
        ...o,
        challenge: toBuffer(o.challenge),
        user: { ...o.user, id: toBuffer(o.user.id) },
        excludeCredentials: (o.excludeCredentials ?? []).map((c) => ({ ...c, id: toBuffer(c.id) })),
      },
    })
    if (!cred) throw new Error('No passkey was created.')
    const response = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(cred.response.clientDataJSON),
        attestationObject: toBase64url(cred.response.attestationObject),
        transports: cred.response.getTransports?.() ?? [],
      },
    }
    return api('/passkey/verify-registration', { response, name })
  }

  async function passkeySignIn() {
    requireWebAuthn()
    const o = await api('/passkey/generate-authenticate-options')
    requireRpId(o.rpId)
    const cred = await navigator.credentials.get({
      publicKey: {
        ...o,
        challenge: toBuffer(o.challenge),
        allowCredentials: (o.allowCredentials ?? []).map((c) => ({ ...c, id: toBuffer(c.id) })),
      },
    })
    if (!cred) throw new Error('No passkey was chosen.')
    const response = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(cred.response.clientDataJSON),
        authenticatorData: toBase64url(cred.response.authenticatorData),
        signature: toBase64url(cred.response.signature),
        ...(cred.response.userHandle ? { userHandle: toBase64url(cred.response.userHandle) } : {}),
      },
    }
    return api('/passkey/verify-authentication', { response })
  }

  /** WebAuthn failures are DOMExceptions with developer wording: say what happened in a sentence. */
  function passkeyError(err) {
    if (err?.name === 'NotAllowedError') return new Error('The passkey request was cancelled or timed out.')
    if (err?.name === 'InvalidStateError')
      return new Error('This device already holds a passkey for this account.')
    if (err?.name === 'SecurityError')
      return new Error(
        "Passkeys are not allowed on this address: open the page at the server's public URL " +
          '(BASTIDE_PUBLIC_URL), or set BASTIDE_PUBLIC_URL to the address you use.',
      )
    return err
  }

  // State ---------------------------------------------------------------------------------------------

  /** The current {session, user}, or null when signed out. */
  let current = null

  async function refresh() {
    current = await api('/get-session')
    $('loading').hidden = true
    const signedIn = Boolean(current?.user)
    $('signed-out').hidden = signedIn
    $('signed-in').hidden = !signedIn
    if (!signedIn) {
      resetSignedOut()
      return
    }
    const u = current.user
    $('user-name').textContent = u.name || '—'
    $('user-email').textContent = u.email
    $('user-verified').textContent = u.emailVerified ? 'Yes' : 'Not yet: follow the link we emailed you'
    $('user-id').textContent = u.id
    renderTwoFactor()
    await Promise.all([loadPasskeys(), loadSessions()])
  }

  function resetSignedOut() {
    $('sign-in-form').hidden = false
    $('totp-sign-in-form').hidden = true
    $('token-box').hidden = true
    $('token-value').value = ''
    $('totp-setup').hidden = true
  }

  function renderTwoFactor() {
    const enabled = Boolean(current.user.twoFactorEnabled)
    const settingUp = !$('totp-setup').hidden
    $('totp-state').textContent = enabled
      ? 'On: signing in with your password also asks for a code from your authenticator app.'
      : 'Off: add an authenticator app (TOTP) so that a password alone is not enough to sign in.'
    $('totp-enable-form').hidden = enabled || settingUp
    $('totp-disable-form').hidden = !enabled
  }

  async function loadPasskeys() {
    const list = await api('/passkey/list-user-passkeys')
    const ul = $('passkey-list')
    ul.replaceChildren()
    if (!list.length) ul.append(el('li', { dataset: { testid: 'passkey-empty' } }, 'No passkeys yet.'))
    for (const p of list) {
      const del = el(
        'button',
        { type: 'button', className: 'danger', dataset: { testid: 'passkey-delete' } },
        'Delete',
      )
      del.setAttribute('aria-label', `Delete passkey ${p.name || ''}`.trim())
      del.addEventListener(
        'click',
        action(del, async () => {
          await api('/passkey/delete-passkey', { id: p.id })
          showNotice('Passkey deleted.')
          await loadPasskeys()
        }),
      )
      ul.append(
        el(
          'li',
          { dataset: { testid: 'passkey-row' } },
          el(
            'span',
            { className: 'row-text' },
            el('span', { dataset: { testid: 'passkey-row-name' } }, p.name || 'Unnamed passkey'),
            el('span', { className: 'row-meta' }, `Added ${formatDate(p.createdAt)}`),
          ),
          del,
        ),
      )
    }
  }

  async function loadSessions() {
    const list = await api('/list-sessions')
    const ul = $('session-list')
    ul.replaceChildren()
    const currentId = current?.session?.id
    for (const s of list) {
      const isCurrent = s.current === true || s.id === currentId
      const button = el(
        'button',
        {
          type: 'button',
          className: isCurrent ? 'secondary' : 'danger',
          dataset: { testid: 'session-revoke' },
        },
        isCurrent ? 'Sign out' : 'Revoke',
      )
      button.setAttribute(
        'aria-label',
        isCurrent ? 'Sign out of this device' : `Revoke session on ${device(s.userAgent)}`,
      )
      button.addEventListener(
        'click',
        action(button, async () => {
          if (isCurrent) return signOut()
          await api('/revoke-session', { id: s.id })
          showNotice('Session revoked: that device is signed out.')
          await loadSessions()
        }),
      )
      ul.append(
        el(
          'li',
          {
            dataset: { testid: 'session-row', sessionId: s.id, current: String(isCurrent) },
            title: s.userAgent ?? '',
          },
          el(
            'span',
            { className: 'row-text' },
            device(s.userAgent),
            isCurrent
              ? el('span', { className: 'badge', dataset: { testid: 'session-current' } }, 'this device')
              : null,
            el(
              'span',
              { className: 'row-meta' },
              [s.ipAddress ? `IP ${s.ipAddress}` : 'IP unknown', `signed in ${formatDate(s.createdAt)}`].join(
                ' · ',
              ),
            ),
          ),
          button,
        ),
      )
    }
  }

  async function signOut() {
    await api('/sign-out', {})
    showNotice('You are signed out.')
    await refresh()
  }

  // Signed out -----------------------------------------------------------------------------------------

  function renderProviders() {
    let providers = []
    try {
      providers = JSON.parse(document.body.dataset.providers || '[]')
    } catch {}
    const box = $('provider-buttons')
    for (const p of providers) {
      const label = PROVIDER_NAMES[p.id] ?? p.id
      const b = el(
        'button',
        { type: 'button', className: 'secondary', dataset: { testid: `provider-${p.id}`, provider: p.id } },
        `Sign in with ${label}`,
      )
      b.addEventListener(
        'click',
        action(b, async () => {
          // Generic OIDC providers go through the same endpoint as the built-in ones in better-auth 1.7
          // (genericOAuth registers them as social providers; the callback is /api/auth/callback/<id>).
          const r = await api('/sign-in/social', {
            provider: p.id,
            callbackURL: '/account',
            errorCallbackURL: '/account',
            disableRedirect: true,
          })
          if (!r?.url) throw new Error('The provider did not answer with a sign-in address.')
          window.location.assign(r.url)
        }),
      )
      box.append(b)
    }
  }

  on('sign-in-form', async (e) => {
    const form = e.target
    const r = await api('/sign-in/email', {
      email: formValue(form, 'email'),
      password: formValue(form, 'password'),
    })
    form.reset()
    if (r?.twoFactorRedirect) {
      $('sign-in-form').hidden = true
      $('totp-sign-in-form').hidden = false
      $('totp-sign-in-code').focus()
      return
    }
    showNotice('')
    await refresh()
  })

  on('totp-sign-in-form', async (e) => {
    const form = e.target
    const code = formValue(form, 'code').trim()
    // Six digits: a code from the app; anything else: one of the backup codes.
    if (/^\d{6}$/.test(code)) await api('/two-factor/verify-totp', { code })
    else await api('/two-factor/verify-backup-code', { code })
    form.reset()
    showNotice('')
    await refresh()
  })

  on('totp-sign-in-cancel', async () => {
    resetSignedOut()
  })

  on('passkey-sign-in', async () => {
    try {
      await passkeySignIn()
    } catch (err) {
      throw passkeyError(err)
    }
    showNotice('')
    await refresh()
  })

  on('sign-up-form', async (e) => {
    const form = e.target
    await api('/sign-up/email', {
      name: formValue(form, 'name'),
      email: formValue(form, 'email'),
      password: formValue(form, 'password'),
      // The verification link comes back here, signed in.
      callbackURL: '/account',
    })
    form.reset()
    $('sign-up-done').hidden = false
  })

  // Signed in ------------------------------------------------------------------------------------------

  on('sign-out', signOut)

  on('get-token', async () => {
    const { token } = await api('/token')
    const collection = $('token-collection').value.trim() || 'users'
    $('token-value').value = token
    $('token-curl').value =
      `curl -H 'Authorization: Bearer ${token}' '${location.origin}/api/collections/${encodeURIComponent(collection)}/records'`
    $('token-box').hidden = false
  })

  const copy = (source) => async () => {
    const text = $(source).value
    try {
      await navigator.clipboard.writeText(text)
      showNotice('Copied.')
    } catch {
      // No clipboard permission (or not a secure context): select it for a manual copy.
      $(source).select()
      showNotice('Press Ctrl+C (⌘C) to copy the selected text.')
    }
  }
  on('copy-token', copy('token-value'))
  on('copy-curl', copy('token-curl'))

  on('totp-enable-form', async (e) => {
    const form = e.target
    const r = await api('/two-factor/enable', { password: formValue(form, 'password') })
    form.reset()
    $('totp-uri').value = r.totpURI
    $('totp-secret').textContent = new URL(r.totpURI).searchParams.get('secret') ?? ''
    $('backup-codes').replaceChildren(...(r.backupCodes ?? []).map((c) => el('li', {}, c)))
    $('totp-setup').hidden = false
    $('totp-enable-form').hidden = true
    $('totp-confirm-code').focus()
  })

  on('totp-confirm-form', async (e) => {
    const form = e.target
    await api('/two-factor/verify-totp', { code: formValue(form, 'code').trim() })
    form.reset()
    $('totp-setup').hidden = true
    showNotice('Two-factor authentication is on.')
    await refresh()
  })

  on('totp-disable-form', async (e) => {
    const form = e.target
    await api('/two-factor/disable', { password: formValue(form, 'password') })
    form.reset()
    showNotice('Two-factor authentication is off.')
    await refresh()
  })

  on('passkey-add-form', async (e) => {
    const form = e.target
    const name = formValue(form, 'name').trim() || device(navigator.userAgent)
    try {
      await registerPasskey(name)
    } catch (err) {
      throw passkeyError(err)
    }
    form.reset()
    showNotice(`Passkey "${name}" added: you can sign in with it.`)
    await loadPasskeys()
  })

  on('revoke-others', async () => {
    await api('/revoke-other-sessions', {})
    showNotice('Every other device is signed out.')
    await loadSessions()
  })

  // Start ----------------------------------------------------------------------------------------------

  // Back from a provider or a verification link that failed: better-auth adds ?error=<code>.
  const params = new URLSearchParams(location.search)
  const error = params.get('error')
  if (error) {
    const description = params.get('error_description')
    showError(`Sign-in did not complete: ${(description || error).replace(/_/g, ' ')}.`.replace(/\.\.$/, '.'))
    history.replaceState(null, '', location.pathname)
  }
  renderProviders()
  refresh().catch((err) => {
    $('loading').hidden = true
    showError(err instanceof Error ? err.message : String(err))
  })
})()
