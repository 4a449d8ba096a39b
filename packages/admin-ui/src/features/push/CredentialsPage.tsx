import type { PushCredentialProvider } from '@bastide/protocol'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, type ReactNode, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type CredentialsInputs, type PushCredentialsStatus, pushApi, pushKey } from './api.ts'
import { hintWith } from './badges.tsx'
import { errorAt, serverFieldErrors, unplacedErrors, webPushInput } from './forms.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

const statusKey = [...pushKey, 'credentials'] as const

const NAMES: Record<PushCredentialProvider, string> = { apns: 'APNs', fcm: 'FCM', webpush: 'Web Push' }

/**
 * The providers' credentials: APNs (.p8 key), FCM (service account) and Web Push (VAPID). Secrets are
 * write-only: the server keeps them sealed and only says what is configured.
 */
export function CredentialsPage() {
  const client = useClient()
  const status = useQuery({
    queryKey: statusKey,
    queryFn: ({ signal }) => pushApi(client).credentials.status({ signal }),
  })
  return (
    <Page title="Push credentials" subtitle="what the server signs in to APNs, FCM and Web Push with">
      <PushTabs />
      <ErrorNote error={status.error} />
      {status.isPending ? (
        <Loading />
      ) : status.data ? (
        <div className="push-cards">
          <ApnsCard status={status.data.apns} />
          <FcmCard status={status.data.fcm} />
          <WebPushCard status={status.data.webpush} />
        </div>
      ) : null}
      <p className="muted">
        UnifiedPush needs no credentials: devices register their distributor's endpoint.
      </p>
    </Page>
  )
}

/** Saving and removing one provider's credentials; the answer is the new status of all three. */
function useProvider<P extends PushCredentialProvider>(provider: P) {
  const client = useClient()
  const queryClient = useQueryClient()
  const save = useMutation({
    mutationFn: (input: CredentialsInputs[P]) => pushApi(client).credentials.set(provider, input),
    onSuccess: (s: PushCredentialsStatus) => queryClient.setQueryData(statusKey, s),
  })
  const remove = async () => {
    const s = await pushApi(client).credentials.remove(provider)
    // "Saved" no longer holds, and a failed save's problems are about a form that starts over.
    save.reset()
    queryClient.setQueryData(statusKey, s)
  }
  return { save, remove }
}

/** One provider's card: its state, its form, the server's problems at their fields, remove. */
function Card(props: {
  provider: PushCredentialProvider
  configured: { updatedAt: string } | null
  children: ReactNode
  facts?: ReactNode
  error: unknown
  fields: readonly string[]
  saved: boolean
  busy: boolean
  onSubmit: () => void
  onRemove: () => Promise<void>
}) {
  const name = NAMES[props.provider]
  const [removing, setRemoving] = useState(false)
  const problems = serverFieldErrors(props.error)
  const rest = unplacedErrors(problems, props.fields)
  const headingId = `push-cred-${props.provider}`
  return (
    <section className="panel stack" aria-labelledby={headingId} data-provider={props.provider}>
      <div className="row">
        <h2 id={headingId} className="grow">
          {name}
        </h2>
        {props.configured ? (
          <span className="badge ok">configured</span>
        ) : (
          <span className="badge">not configured</span>
        )}
      </div>
      {props.configured ? (
        <p className="muted">
          Saved <time dateTime={props.configured.updatedAt}>{formatTime(props.configured.updatedAt)}</time>
        </p>
      ) : null}
      {props.facts}
      <form
        className="stack"
        aria-label={`${name} credentials`}
        onSubmit={(e: FormEvent) => {
          e.preventDefault()
          props.onSubmit()
        }}
      >
        {props.children}
        {props.error ? (
          rest.length > 0 || Object.keys(problems).length === 0 ? (
            <ErrorNote error={props.error} />
          ) : (
            <p className="error-note" role="alert">
              {props.error instanceof Error ? props.error.message : String(props.error)}
            </p>
          )
        ) : props.saved ? (
          <p className="ok-note" role="status">
            {name} credentials saved.
          </p>
        ) : null}
        <div className="row">
          <button type="submit" className="btn primary" disabled={props.busy}>
            {props.busy ? 'Saving…' : `Save ${name}`}
          </button>
          {props.configured ? (
            <button type="button" className="btn danger" onClick={() => setRemoving(true)}>
              Remove {name}
            </button>
          ) : null}
        </div>
      </form>
      {removing ? (
        <ConfirmDialog
          title={`Remove the ${name} credentials?`}
          confirmLabel={`Remove ${name}`}
          danger
          onClose={() => setRemoving(false)}
          onConfirm={props.onRemove}
        >
          <p>Deliveries to {name} devices fail until credentials are saved again. Devices stay registered.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  )
}

/** A write-only secret: pasted, or read from a file picked here; never filled from the server. */
function SecretField(props: {
  label: string
  accept: string
  value: string
  onChange: (v: string) => void
  stored: boolean
  hint: ReactNode
  problem: string | undefined
  placeholder: string
}) {
  const [fileError, setFileError] = useState<string | undefined>()
  return (
    <Field label={props.label} hint={hintWith(props.hint, props.problem ?? fileError)}>
      {({ id, describedBy }) => (
        <>
          <textarea
            id={id}
            aria-describedby={describedBy}
            aria-invalid={props.problem ? true : undefined}
            className="mono"
            rows={4}
            spellCheck={false}
            autoComplete="off"
            value={props.value}
            placeholder={props.stored ? 'Stored: leave empty to keep it' : props.placeholder}
            onChange={(e) => props.onChange(e.target.value)}
          />
          <input
            type="file"
            accept={props.accept}
            aria-label={`${props.label}: choose a file`}
            onChange={async (e) => {
              const f = e.target.files?.[0]
              e.target.value = ''
              if (!f) return
              setFileError(undefined)
              if (f.size > 64 * 1024) return setFileError(`${f.name} is too large for a key file.`)
              props.onChange(await f.text())
            }}
          />
        </>
      )}
    </Field>
  )
}

const problemOf = (error: unknown, field: string) => errorAt(serverFieldErrors(error), field)

function ApnsCard(props: { status: PushCredentialsStatus['apns'] }) {
  const s = props.status
  const { save, remove } = useProvider('apns')
  const [teamId, setTeamId] = useState(s?.teamId ?? '')
  const [keyId, setKeyId] = useState(s?.keyId ?? '')
  const [bundleId, setBundleId] = useState(s?.bundleId ?? '')
  const [privateKey, setPrivateKey] = useState('')
  const p = (f: string) => problemOf(save.error, f)
  return (
    <Card
      provider="apns"
      configured={s}
      error={save.error}
      fields={['teamId', 'keyId', 'bundleId', 'privateKey']}
      saved={save.isSuccess}
      busy={save.isPending}
      onSubmit={() =>
        save.mutate(
          {
            teamId: teamId.trim(),
            keyId: keyId.trim(),
            bundleId: bundleId.trim(),
            ...(privateKey.trim() ? { privateKey } : {}),
          },
          { onSuccess: () => setPrivateKey('') },
        )
      }
      onRemove={remove}
    >
      <TextField
        label="Team id"
        className="mono"
        value={teamId}
        onChange={setTeamId}
        aria-invalid={p('teamId') ? true : undefined}
        hint={hintWith('10 characters, from the Apple Developer account.', p('teamId'))}
      />
      <TextField
        label="Key id"
        className="mono"
        value={keyId}
        onChange={setKeyId}
        aria-invalid={p('keyId') ? true : undefined}
        hint={hintWith('The id of the APNs authentication key (.p8).', p('keyId'))}
      />
      <TextField
        label="Bundle id"
        className="mono"
        value={bundleId}
        onChange={setBundleId}
        aria-invalid={p('bundleId') ? true : undefined}
        hint={hintWith(
          "The default apns-topic; each device's app id is used when it has one.",
          p('bundleId'),
        )}
      />
      <SecretField
        label="Private key (.p8)"
        accept=".p8,.pem,text/plain"
        value={privateKey}
        onChange={setPrivateKey}
        stored={s !== null}
        placeholder="-----BEGIN PRIVATE KEY-----"
        hint={
          s
            ? 'Stored and never shown; paste or choose a file to replace it.'
            : 'Paste the .p8 file, or choose it.'
        }
        problem={p('privateKey')}
      />
    </Card>
  )
}

function FcmCard(props: { status: PushCredentialsStatus['fcm'] }) {
  const s = props.status
  const { save, remove } = useProvider('fcm')
  const [serviceAccount, setServiceAccount] = useState('')
  const [local, setLocal] = useState<string | undefined>()
  const problem = local ?? problemOf(save.error, 'serviceAccount')
  return (
    <Card
      provider="fcm"
      configured={s}
      error={save.error}
      fields={['serviceAccount']}
      saved={save.isSuccess}
      busy={save.isPending}
      facts={
        s ? (
          <dl className="account-facts" aria-label="FCM service account">
            <div>
              <dt>Project</dt>
              <dd className="mono">{s.projectId}</dd>
            </div>
            <div>
              <dt>Client email</dt>
              <dd className="mono">{s.clientEmail}</dd>
            </div>
          </dl>
        ) : null
      }
      onSubmit={() => {
        if (serviceAccount.trim() === '') {
          setLocal(
            s
              ? 'Choose a new service account file to replace the stored one.'
              : 'Choose the service account JSON file.',
          )
          return
        }
        setLocal(undefined)
        save.mutate({ serviceAccount }, { onSuccess: () => setServiceAccount('') })
      }}
      onRemove={remove}
    >
      <SecretField
        label="Service account JSON"
        accept=".json,application/json"
        value={serviceAccount}
        onChange={setServiceAccount}
        stored={s !== null}
        placeholder='{"type": "service_account", "project_id": …}'
        hint="Firebase console → Project settings → Service accounts → Generate new private key."
        problem={problem}
      />
    </Card>
  )
}

function WebPushCard(props: { status: PushCredentialsStatus['webpush'] }) {
  const s = props.status
  const { save, remove } = useProvider('webpush')
  const [subject, setSubject] = useState(s?.subject ?? '')
  // Configured: pasting is the default, so that saving a new subject never rotates the keys by surprise.
  const [generate, setGenerate] = useState(s === null)
  const [publicKey, setPublicKey] = useState('')
  const [privateKey, setPrivateKey] = useState('')
  const [copied, setCopied] = useState(false)
  const p = (f: string) => problemOf(save.error, f)
  return (
    <Card
      provider="webpush"
      configured={s}
      error={save.error}
      fields={['subject', 'publicKey', 'privateKey']}
      saved={save.isSuccess}
      busy={save.isPending}
      facts={
        s ? (
          <div className="stack">
            <Field
              label="VAPID public key"
              hint="Give it to pushManager.subscribe({ applicationServerKey })."
            >
              {({ id, describedBy }) => (
                <input
                  id={id}
                  aria-describedby={describedBy}
                  type="text"
                  readOnly
                  className="mono push-key"
                  value={s.publicKey}
                  onFocus={(e) => e.target.select()}
                />
              )}
            </Field>
            <div className="row">
              <button
                type="button"
                className="btn small"
                onClick={async () => {
                  await navigator.clipboard?.writeText(s.publicKey)
                  setCopied(true)
                }}
              >
                Copy public key
              </button>
              {copied ? (
                <span className="muted" role="status">
                  Copied.
                </span>
              ) : null}
            </div>
          </div>
        ) : null
      }
      onSubmit={() =>
        save.mutate(webPushInput({ subject, generate, publicKey, privateKey }), {
          onSuccess: () => {
            setPrivateKey('')
            setPublicKey('')
            setCopied(false)
          },
        })
      }
      onRemove={remove}
    >
      <TextField
        label="Subject"
        value={subject}
        onChange={setSubject}
        placeholder="mailto:ops@example.com"
        aria-invalid={p('subject') ? true : undefined}
        hint={hintWith('A mailto: or https: contact push services may use.', p('subject'))}
      />
      <fieldset className="stack">
        <legend>Keys</legend>
        <label className="check">
          <input type="radio" name="push-vapid" checked={generate} onChange={() => setGenerate(true)} />
          Generate keys on the server
        </label>
        <label className="check">
          <input type="radio" name="push-vapid" checked={!generate} onChange={() => setGenerate(false)} />
          Paste an existing key pair
        </label>
        {generate && s ? (
          <p className="warn-note">
            Saving generates a new key pair: browsers subscribed with the current public key must subscribe
            again. To change the subject only, choose “Paste an existing key pair” and leave both keys empty.
          </p>
        ) : null}
        {generate ? null : (
          <>
            <TextField
              label="Public key"
              className="mono"
              value={publicKey}
              onChange={setPublicKey}
              autoComplete="off"
              aria-invalid={p('publicKey') ? true : undefined}
              hint={hintWith('base64url, 65 bytes (uncompressed P-256 point).', p('publicKey'))}
            />
            <TextField
              label="Private key"
              className="mono"
              type="password"
              value={privateKey}
              onChange={setPrivateKey}
              autoComplete="off"
              aria-invalid={p('privateKey') ? true : undefined}
              hint={hintWith('base64url, 32 bytes; write-only.', p('privateKey'))}
            />
          </>
        )}
      </fieldset>
    </Card>
  )
}
