import { useMutation, useQuery } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { type SettingField, type Settings, type SettingsAuthMethod, settingsService } from './api.ts'
import { OAuthSection } from './OAuthSection.tsx'
import { LOCKED_STYLE, Source } from './Source.tsx'
import { parseOrigins } from './settings-form.ts'
import { SETTINGS_KEY, useSaveSettings } from './use-settings.ts'

/**
 * Runtime settings: SMTP (with a test mail), CORS origins, the auth rate limit, sign-in methods and OAuth/OIDC
 * providers. Values the environment sets are shown read-only with their variable; secrets are write-only.
 */
export function SettingsPage() {
  const client = useClient()
  const settings = useQuery({
    queryKey: SETTINGS_KEY,
    queryFn: ({ signal }) => settingsService(client).get({ signal }),
  })
  return (
    <Page title="Settings" subtitle="applied on every node without a restart; the environment wins">
      <ErrorNote error={settings.error} />
      {settings.isPending ? (
        <Loading />
      ) : settings.data ? (
        <>
          <SmtpSection s={settings.data} />
          <CorsSection s={settings.data} />
          <RateLimitSection s={settings.data} />
          <MethodsSection s={settings.data} />
          <OAuthSection s={settings.data} />
        </>
      ) : null}
    </Page>
  )
}

function Section(props: { id: string; title: string; children: React.ReactNode }) {
  return (
    <section className="panel stack" aria-labelledby={`settings-${props.id}`}>
      <h2 id={`settings-${props.id}`}>{props.title}</h2>
      {props.children}
    </section>
  )
}

/** Moves the focus to an element as it appears (in place of the button that had it, which is gone). */
const focusOnMount = (el: HTMLElement | null) => el?.focus()

function SmtpSection({ s }: { s: Settings }) {
  const save = useSaveSettings()
  const { url, from } = s.smtp
  const [replacing, setReplacing] = useState(false)
  const [newUrl, setNewUrl] = useState('')
  const [fromText, setFromText] = useState(from.value)
  const cancelReplace = () => {
    setReplacing(false)
    setNewUrl('')
  }
  const smtp: { url?: string; from?: string } = {}
  if (!url.locked && replacing && newUrl) smtp.url = newUrl
  if (!from.locked && fromText !== from.value) smtp.from = fromText
  const dirty = Object.keys(smtp).length > 0
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (!dirty) return
    save.mutate(
      { smtp },
      {
        onSuccess: (r) => {
          cancelReplace()
          setFromText(r.smtp.from.value)
        },
      },
    )
  }
  return (
    <Section id="smtp" title="Email (SMTP)">
      <form className="stack" onSubmit={submit}>
        <Field
          label="SMTP server URL"
          hint={
            <>
              <code>smtp://user:password@host:587</code>, or <code>smtps://</code> for TLS. Stored encrypted
              and never shown again. Without one, mails are only written to the server log.{' '}
              <Source field={url} />
            </>
          }
        >
          {({ id, describedBy }) =>
            replacing ? (
              <input
                id={id}
                ref={focusOnMount}
                type="password"
                autoComplete="off"
                aria-describedby={describedBy}
                value={newUrl}
                onChange={(e) => setNewUrl(e.target.value)}
                placeholder="smtp://user:password@smtp.example.com:587"
              />
            ) : (
              <div className="row">
                <input
                  id={id}
                  type="text"
                  readOnly
                  aria-describedby={describedBy}
                  value={url.value.set ? '•••••••• (set)' : 'not set'}
                />
                {url.value.set ? <span className="badge ok">set</span> : null}
                {url.locked ? null : (
                  <button type="button" className="btn small" onClick={() => setReplacing(true)}>
                    {url.value.set ? 'Replace' : 'Set'}
                  </button>
                )}
                {!url.locked && url.source === 'database' ? (
                  <button
                    type="button"
                    className="btn small danger"
                    disabled={save.isPending}
                    onClick={() => save.mutate({ smtp: { url: null } })}
                  >
                    Remove
                  </button>
                ) : null}
              </div>
            )
          }
        </Field>
        <TextField
          label="Sender (From)"
          value={fromText}
          onChange={setFromText}
          readOnly={from.locked}
          style={from.locked ? LOCKED_STYLE : undefined}
          hint={
            <>
              e.g. <code>My App &lt;no-reply@example.com&gt;</code> <Source field={from} />
            </>
          }
        />
        <ErrorNote error={save.error} />
        {url.locked && from.locked ? null : (
          <div className="row">
            <button type="submit" className="btn primary" disabled={save.isPending || !dirty}>
              {save.isPending ? 'Saving…' : 'Save email settings'}
            </button>
            {replacing ? (
              <button type="button" className="btn" onClick={cancelReplace}>
                Cancel
              </button>
            ) : null}
          </div>
        )}
      </form>
      <TestMail />
    </Section>
  )
}

function TestMail() {
  const client = useClient()
  const [to, setTo] = useState('')
  const test = useMutation({ mutationFn: () => settingsService(client).testSmtp(to) })
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault()
        test.mutate()
      }}
    >
      <div className="grow">
        <TextField
          label="Send a test mail to"
          type="email"
          required
          value={to}
          onChange={setTo}
          hint="Uses the settings in force (save first)."
        />
      </div>
      <button type="submit" className="btn" disabled={test.isPending}>
        {test.isPending ? 'Sending…' : 'Send test mail'}
      </button>
      <div role="status" className="grow">
        {test.data ? (
          <p className="ok-note">The SMTP server accepted the test mail for {test.data.to}.</p>
        ) : null}
      </div>
      <ErrorNote error={test.error} title="Test mail failed" />
    </form>
  )
}

function CorsSection({ s }: { s: Settings }) {
  const save = useSaveSettings()
  const f = s.cors.origins
  const [text, setText] = useState(f.value.join('\n'))
  return (
    <Section id="cors" title="Allowed origins (CORS)">
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          // The textarea then shows the origins as stored (one per line, without repeats).
          save.mutate(
            { cors: { origins: parseOrigins(text) } },
            { onSuccess: (r) => setText(r.cors.origins.value.join('\n')) },
          )
        }}
      >
        <Field
          label="Origins, one per line"
          hint={
            <>
              Web apps at these origins may call the API from a browser; <code>*</code> allows any. The next
              request follows a change. <Source field={f} />
            </>
          }
        >
          {({ id, describedBy }) => (
            <textarea
              id={id}
              aria-describedby={describedBy}
              rows={4}
              className="mono"
              readOnly={f.locked}
              style={f.locked ? LOCKED_STYLE : undefined}
              value={text}
              onChange={(e) => setText(e.target.value)}
            />
          )}
        </Field>
        <ErrorNote error={save.error} />
        {f.locked ? null : (
          <div className="row">
            <button
              type="submit"
              className="btn primary"
              disabled={save.isPending || parseOrigins(text).length === 0}
            >
              Save origins
            </button>
            {f.source === 'database' ? (
              <button
                type="button"
                className="btn"
                disabled={save.isPending}
                onClick={() =>
                  save.mutate(
                    { cors: { origins: null } },
                    { onSuccess: (r) => setText(r.cors.origins.value.join('\n')) },
                  )
                }
              >
                Back to the default
              </button>
            ) : null}
          </div>
        )}
      </form>
    </Section>
  )
}

function RateLimitSection({ s }: { s: Settings }) {
  const save = useSaveSettings()
  const f = s.rateLimits.authPerMinute
  const [value, setValue] = useState(String(f.value))
  return (
    <Section id="limits" title="Rate limits">
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          save.mutate(
            { rateLimits: { authPerMinute: Number(value) } },
            { onSuccess: (r) => setValue(String(r.rateLimits.authPerMinute.value)) },
          )
        }}
      >
        <TextField
          label="Auth requests per minute, per client address and endpoint"
          type="number"
          min={1}
          step={1}
          required
          readOnly={f.locked}
          style={f.locked ? LOCKED_STYLE : undefined}
          value={value}
          onChange={setValue}
          hint={
            <>
              Endpoints that check a secret (passwords, codes) allow a third of it. <Source field={f} />
            </>
          }
        />
        <ErrorNote error={save.error} />
        {f.locked ? null : (
          <div className="row">
            <button type="submit" className="btn primary" disabled={save.isPending}>
              Save limit
            </button>
          </div>
        )}
      </form>
    </Section>
  )
}

const METHOD_LABELS: Record<SettingsAuthMethod, string> = {
  emailPasswordSignUp: 'Sign-up with email and password',
  magicLink: 'Magic links by email',
  emailOtp: 'One-time codes by email',
  phoneOtp: 'One-time codes by SMS',
  anonymous: 'Anonymous sign-in',
  passkey: 'Passkeys',
}

function MethodsSection({ s }: { s: Settings }) {
  const save = useSaveSettings()
  const methods = s.auth.methods
  const [draft, setDraft] = useState<Record<string, boolean>>(() =>
    Object.fromEntries(Object.entries(methods).map(([k, f]) => [k, (f as SettingField<boolean>).value])),
  )
  const changed = Object.entries(draft).filter(([k, v]) => methods[k as SettingsAuthMethod]?.value !== v)
  return (
    <Section id="methods" title="Sign-in methods">
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          save.mutate({ auth: { methods: Object.fromEntries(changed) } })
        }}
      >
        <fieldset className="stack">
          <legend>Methods app users may use (email and password sign-in always works)</legend>
          {(Object.keys(METHOD_LABELS) as SettingsAuthMethod[]).map((m) => (
            <label key={m} className="check">
              <input
                type="checkbox"
                checked={draft[m] ?? true}
                onChange={(e) => setDraft({ ...draft, [m]: e.target.checked })}
              />
              {METHOD_LABELS[m]} {methods[m] ? <Source field={methods[m]} /> : null}
            </label>
          ))}
        </fieldset>
        <p className="muted">A switched-off method answers 403 METHOD_DISABLED at once, on every node.</p>
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={save.isPending || changed.length === 0}>
            Save methods
          </button>
        </div>
      </form>
    </Section>
  )
}
