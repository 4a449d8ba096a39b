import { type FormEvent, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import type { OAuthProviderView, Settings } from './api.ts'
import { parseScopes, providersPatch } from './settings-form.ts'
import { useSaveSettings } from './use-settings.ts'

const SOCIAL = ['google', 'apple', 'github', 'microsoft', 'gitlab', 'discord'] as const

/** OAuth and OpenID Connect providers: the environment's read-only, the database's editable. */
export function OAuthSection({ s }: { s: Settings }) {
  const save = useSaveSettings()
  const providers = s.oauth.providers
  const [editing, setEditing] = useState<OAuthProviderView | 'new' | null>(null)
  const [removing, setRemoving] = useState<OAuthProviderView | null>(null)
  /**
   * While a save runs, the state it asks for: set in the click's own handler, so the checkbox follows the click
   * at once (the mutation's pending state only arrives with a later render).
   */
  const [asked, setAsked] = useState<{ id: string; enabled: boolean } | null>(null)
  const enabledNow = (p: OAuthProviderView): boolean => (asked?.id === p.id ? asked.enabled : p.enabled)
  const setEnabled = (p: OAuthProviderView, enabled: boolean) => {
    setAsked({ id: p.id, enabled })
    save.mutate(
      {
        oauth: {
          providers: providersPatch(providers).map((x) => (x.id === p.id ? { ...x, enabled } : x)),
        },
      },
      { onSettled: () => setAsked(null) },
    )
  }
  return (
    <section className="panel stack" aria-labelledby="settings-oauth">
      <div className="row">
        <h2 id="settings-oauth" className="grow">
          OAuth and OpenID Connect providers
        </h2>
        <button type="button" className="btn primary" onClick={() => setEditing('new')}>
          Add provider
        </button>
      </div>
      {s.oauth.restartRequired ? (
        <p className="warn-note" role="status">
          An OpenID Connect provider was added or changed since this server started: sign-in through its page
          works already; apps that sign in with an ID token from it need a restart of the server (every node).
        </p>
      ) : null}
      <ErrorNote error={save.error} />
      {providers.length === 0 ? (
        <p className="muted">No provider: app users sign in with the methods above.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">Type</th>
              <th scope="col">Client id</th>
              <th scope="col">Secret</th>
              <th scope="col">Enabled</th>
              <th scope="col">Source</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {providers.map((p) => (
              <tr key={p.id}>
                <td>
                  {p.id}
                  {p.issuer ? <div className="muted mono">{p.issuer}</div> : null}
                </td>
                <td>{p.type === 'oidc' ? 'OpenID Connect' : 'built-in'}</td>
                <td className="mono">{p.clientId}</td>
                <td>
                  {p.clientSecret.set ? (
                    <span className="badge ok">set</span>
                  ) : (
                    <span className="badge">none</span>
                  )}
                </td>
                <td>
                  {p.locked ? (
                    'yes'
                  ) : (
                    <label className="check">
                      <input
                        type="checkbox"
                        checked={enabledNow(p)}
                        disabled={save.isPending || asked !== null}
                        onChange={(e) => setEnabled(p, e.target.checked)}
                      />
                      <span className="sr-only">Enable {p.id}</span>
                    </label>
                  )}
                </td>
                <td>
                  {p.locked ? (
                    <span className="badge danger">set by {p.env} (read-only here)</span>
                  ) : (
                    <span className="badge ok">set here</span>
                  )}
                </td>
                <td>
                  {p.locked ? null : (
                    <div className="row">
                      <button type="button" className="btn small" onClick={() => setEditing(p)}>
                        Edit<span className="sr-only"> {p.id}</span>
                      </button>
                      <button type="button" className="btn small danger" onClick={() => setRemoving(p)}>
                        Remove<span className="sr-only"> {p.id}</span>
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing ? (
        <ProviderDialog
          s={s}
          editing={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
        />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Remove ${removing.id}?`}
          confirmLabel="Remove provider"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await save.mutateAsync({
              oauth: { providers: providersPatch(providers, { removeId: removing.id }) },
            })
          }}
        >
          <p>Users who signed in with it keep their accounts but cannot sign in with it any more.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  )
}

function ProviderDialog(props: { s: Settings; editing: OAuthProviderView | undefined; onClose: () => void }) {
  const save = useSaveSettings()
  const e = props.editing
  const [type, setType] = useState<'social' | 'oidc'>(e?.type ?? 'social')
  const [id, setId] = useState(e?.id ?? 'google')
  const [clientId, setClientId] = useState(e?.clientId ?? '')
  const [clientSecret, setClientSecret] = useState('')
  const [issuer, setIssuer] = useState(e?.issuer ?? '')
  const [scopes, setScopes] = useState((e?.scopes ?? []).join(' '))
  const [enabled, setEnabled] = useState(e?.enabled ?? true)
  // A new provider with the id of one already there would silently replace it (or, for the environment's,
  // be refused): say so before saving.
  const taken = e ? undefined : props.s.oauth.providers.find((p) => p.id === id)
  const submit = (ev: FormEvent) => {
    ev.preventDefault()
    if (taken) return
    const replace = {
      id,
      type,
      clientId,
      ...(clientSecret ? { clientSecret } : {}),
      ...(type === 'oidc' ? { issuer } : {}),
      ...(type === 'oidc' && scopes.trim() ? { scopes: parseScopes(scopes) } : {}),
      enabled,
    }
    save.mutate(
      { oauth: { providers: providersPatch(props.s.oauth.providers, { replace }) } },
      { onSuccess: props.onClose },
    )
  }
  return (
    <Dialog title={e ? `Edit ${e.id}` : 'Add a provider'} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <Field label="Type">
          {({ id: fid }) => (
            <select
              id={fid}
              value={type}
              disabled={!!e}
              onChange={(x) => {
                const t = x.target.value as 'social' | 'oidc'
                setType(t)
                setId(t === 'social' ? 'google' : '')
              }}
            >
              <option value="social">Built-in (Google, Apple, GitHub…)</option>
              <option value="oidc">OpenID Connect (Keycloak, Authentik, Auth0…)</option>
            </select>
          )}
        </Field>
        {type === 'social' ? (
          <Field label="Provider">
            {({ id: fid }) => (
              <select id={fid} value={id} disabled={!!e} onChange={(x) => setId(x.target.value)}>
                {SOCIAL.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : (
          <>
            <TextField
              label="Id"
              required
              readOnly={!!e}
              pattern="[a-z0-9]{1,32}"
              value={id}
              onChange={setId}
              hint="Lower-case letters and digits; apps sign in with this provider id."
            />
            <TextField
              label="Issuer URL"
              type="url"
              required
              value={issuer}
              onChange={setIssuer}
              hint="Its discovery document is at <issuer>/.well-known/openid-configuration."
            />
          </>
        )}
        <TextField label="Client id" required value={clientId} onChange={setClientId} />
        <TextField
          label="Client secret"
          type="password"
          autoComplete="off"
          value={clientSecret}
          onChange={setClientSecret}
          hint={
            e?.clientSecret.set
              ? 'A secret is set: leave empty to keep it, or type a new one to replace it.'
              : 'Stored encrypted; never shown again.'
          }
        />
        {type === 'oidc' ? (
          <TextField
            label="Scopes"
            value={scopes}
            onChange={setScopes}
            hint="Separated by spaces. Default: openid email profile."
          />
        ) : null}
        <label className="check">
          <input type="checkbox" checked={enabled} onChange={(x) => setEnabled(x.target.checked)} />
          Enabled
        </label>
        <p className="muted">
          Sign-in through the provider's page uses it at once, on every node. Apps that sign in with an ID
          token from a new OpenID Connect provider need a server restart.
        </p>
        {taken ? (
          <p className="warn-note" role="alert">
            {taken.locked
              ? `The provider ${taken.id} is set by ${taken.env ?? 'the environment'}: it cannot be added here.`
              : `The provider ${taken.id} is already configured: edit it in the list instead.`}
          </p>
        ) : null}
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={save.isPending || !!taken}>
            {save.isPending ? 'Saving…' : 'Save provider'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
