import {
  browserSupportsPasskeys,
  type ConsolePasskey,
  type ConsoleSessionInfo,
  isBastideError,
} from '@bastide/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, type ReactNode, useId, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Loading, Page, Pager } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { useSession } from '../../lib/session.tsx'
import { parseOtpauth } from './otpauth.ts'
import { QrCode } from './QrCode.tsx'
import { describeUserAgent } from './user-agent.ts'

type Passkey = ConsolePasskey

const PASSKEYS_PER_PAGE = 10

/** The signed-in admin's own account: two-factor (TOTP and backup codes), passkeys, sessions. */
export function AccountPage() {
  const session = useSession()
  if (!session) return <Loading />
  const { admin } = session
  return (
    <Page title="Your account" subtitle={admin.email}>
      <div className="stack account-sections">
        <Section title="Profile">
          <dl className="account-facts">
            <div>
              <dt>Email</dt>
              <dd>{admin.email}</dd>
            </div>
            <div>
              <dt>Name</dt>
              <dd>{admin.name || <span className="muted">not set</span>}</dd>
            </div>
            <div>
              <dt>Admin id</dt>
              <dd className="mono">{admin.id}</dd>
            </div>
          </dl>
        </Section>
        <TotpSection enabled={admin.twoFactorEnabled === true} email={admin.email} />
        <PasskeysSection />
        <SessionsSection />
      </div>
    </Page>
  )
}

function Section(props: { title: string; children: ReactNode; status?: ReactNode }) {
  const id = useId()
  return (
    <section className="panel stack" aria-labelledby={id}>
      <div className="row">
        <h2 id={id} className="grow account-h2">
          {props.title}
        </h2>
        {props.status}
      </div>
      {props.children}
    </section>
  )
}

type TotpStep =
  | { readonly kind: 'idle' }
  | { readonly kind: 'password' }
  | { readonly kind: 'scan'; readonly totpURI: string; readonly backupCodes: string[] }
  | { readonly kind: 'codes'; readonly backupCodes: string[]; readonly fresh: boolean }

/** TOTP: turn on (password, scan, confirm with a first code, backup codes shown once), new backup codes, turn off. */
function TotpSection(props: { enabled: boolean; email: string }) {
  const client = useClient()
  const [step, setStep] = useState<TotpStep>({ kind: 'idle' })
  const [dialog, setDialog] = useState<'disable' | 'codes' | null>(null)
  const status = props.enabled ? <span className="badge ok">On</span> : <span className="badge">Off</span>
  return (
    <Section title="Two-factor authentication (TOTP)" status={status}>
      {step.kind === 'codes' ? (
        <BackupCodes codes={step.backupCodes} fresh={step.fresh} onDone={() => setStep({ kind: 'idle' })} />
      ) : props.enabled ? (
        <>
          <p className="muted">
            After your password, the console asks for a 6-digit code from your authenticator app. Lost the
            app? Sign in with a backup code.
          </p>
          <div className="row">
            <button type="button" className="btn" onClick={() => setDialog('codes')}>
              New backup codes
            </button>
            <button type="button" className="btn danger" onClick={() => setDialog('disable')}>
              Turn off TOTP
            </button>
          </div>
        </>
      ) : step.kind === 'idle' ? (
        <>
          <p className="muted">
            Ask for a code from an authenticator app (1Password, Google Authenticator, Aegis…) after your
            password.
          </p>
          <div className="row">
            <button type="button" className="btn primary" onClick={() => setStep({ kind: 'password' })}>
              Set up TOTP
            </button>
          </div>
        </>
      ) : step.kind === 'password' ? (
        <PasswordForm
          intro="Confirm your password to start."
          submitLabel="Continue"
          onCancel={() => setStep({ kind: 'idle' })}
          onSubmit={async (password) => {
            const r = await client.admin.auth.enableTotp(password)
            setStep({ kind: 'scan', totpURI: r.totpURI, backupCodes: r.backupCodes })
          }}
        />
      ) : (
        <ScanStep
          totpURI={step.totpURI}
          email={props.email}
          onCancel={() => setStep({ kind: 'idle' })}
          onConfirmed={() => setStep({ kind: 'codes', backupCodes: step.backupCodes, fresh: true })}
        />
      )}
      {dialog === 'disable' ? (
        <PasswordDialog
          title="Turn off TOTP?"
          intro="Signing in will need only your password (or a passkey). Your backup codes stop working."
          confirmLabel="Turn off TOTP"
          danger
          onClose={() => setDialog(null)}
          onSubmit={(password) => client.admin.auth.disableTotp(password)}
        />
      ) : null}
      {dialog === 'codes' ? (
        <PasswordDialog
          title="New backup codes"
          intro="Your current backup codes stop working and new ones are shown once."
          confirmLabel="Make new codes"
          onClose={() => setDialog(null)}
          onSubmit={async (password) => {
            const r = await client.admin.auth.generateBackupCodes(password)
            setStep({ kind: 'codes', backupCodes: r.backupCodes, fresh: false })
          }}
        />
      ) : null}
    </Section>
  )
}

function ScanStep(props: { totpURI: string; email: string; onCancel: () => void; onConfirmed: () => void }) {
  const client = useClient()
  const [code, setCode] = useState('')
  const info = parseOtpauth(props.totpURI)
  const confirm = useMutation({
    mutationFn: () => client.admin.auth.confirmTotp(code.replace(/\s/g, '')),
    onSuccess: props.onConfirmed,
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    confirm.mutate()
  }
  return (
    <div className="account-scan">
      <QrCode value={props.totpURI} label={`QR code of the TOTP key for ${props.email}`} />
      <form className="stack grow" onSubmit={submit}>
        <p>
          <strong>1.</strong> Scan the QR code with your authenticator app, or enter the key by hand.
        </p>
        {info ? (
          <dl className="account-facts">
            <div>
              <dt>Key</dt>
              <dd className="mono account-secret">{info.secret}</dd>
            </div>
            <div>
              <dt>Account</dt>
              <dd>
                {info.issuer ? `${info.issuer}: ` : ''}
                {info.account}
              </dd>
            </div>
            <div>
              <dt>Type</dt>
              <dd>
                time-based, {info.digits} digits, every {info.period} s, {info.algorithm}
              </dd>
            </div>
          </dl>
        ) : null}
        <Field label="Key URI" hint="For apps and password managers that take the otpauth:// link itself.">
          {({ id, describedBy }) => (
            <input
              id={id}
              aria-describedby={describedBy}
              type="text"
              readOnly
              className="mono"
              value={props.totpURI}
              onFocus={(e) => e.target.select()}
            />
          )}
        </Field>
        <p>
          <strong>2.</strong> Enter the code the app shows now.
        </p>
        <TextField
          label="Code from the app"
          autoComplete="one-time-code"
          inputMode="numeric"
          pattern="[0-9 ]{6,8}"
          required
          value={code}
          onChange={setCode}
        />
        <ErrorNote error={confirm.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={confirm.isPending}>
            {confirm.isPending ? 'Checking…' : 'Turn on TOTP'}
          </button>
          <button type="button" className="btn" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  )
}

function BackupCodes(props: { codes: string[]; fresh: boolean; onDone: () => void }) {
  const [copied, setCopied] = useState(false)
  return (
    <div className="stack">
      {props.fresh ? (
        <p className="ok-note" role="status">
          TOTP is on: the next sign-in asks for a code.
        </p>
      ) : null}
      <p className="warn-note">
        Save these backup codes now: each signs you in once without the app, and they are not shown again.
      </p>
      <ul className="account-codes mono" aria-label="Backup codes">
        {props.codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <div className="row">
        <button
          type="button"
          className="btn"
          onClick={() => {
            void navigator.clipboard?.writeText(props.codes.join('\n')).then(() => setCopied(true))
          }}
        >
          {copied ? 'Copied' : 'Copy codes'}
        </button>
        <button type="button" className="btn primary" onClick={props.onDone}>
          I have saved them
        </button>
      </div>
    </div>
  )
}

/** Passkeys: this admin's list (paged), add one from this browser, remove one. */
function PasskeysSection() {
  const client = useClient()
  const queryClient = useQueryClient()
  const supported = browserSupportsPasskeys()
  const [name, setName] = useState('')
  const [page, setPage] = useState(1)
  const [removing, setRemoving] = useState<Passkey | null>(null)
  const passkeys = useQuery({
    queryKey: ['account', 'passkeys'],
    queryFn: ({ signal }) => client.admin.auth.listPasskeys({ signal }),
  })
  const add = useMutation({
    mutationFn: () => client.admin.auth.addPasskey(name.trim() || defaultPasskeyName()),
    onSuccess: async () => {
      setName('')
      await queryClient.invalidateQueries({ queryKey: ['account', 'passkeys'] })
    },
  })
  const all = passkeys.data ?? []
  const pages = Math.max(1, Math.ceil(all.length / PASSKEYS_PER_PAGE))
  const shown = all.slice(
    (Math.min(page, pages) - 1) * PASSKEYS_PER_PAGE,
    Math.min(page, pages) * PASSKEYS_PER_PAGE,
  )
  const submit = (e: FormEvent) => {
    e.preventDefault()
    add.mutate()
  }
  return (
    <Section
      title="Passkeys"
      status={
        all.length > 0 ? <span className="badge ok">{all.length}</span> : <span className="badge">none</span>
      }
    >
      <p className="muted">
        A passkey signs you in with this device’s screen lock or a security key: no password, no code.
      </p>
      <ErrorNote error={passkeys.error} />
      {passkeys.isPending ? (
        <Loading />
      ) : all.length === 0 ? (
        <p className="muted">No passkey yet.</p>
      ) : (
        <>
          <table className="table">
            <caption className="sr-only">Your passkeys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Added</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((p) => (
                <tr key={p.id}>
                  <td>{p.name || <span className="muted">unnamed</span>}</td>
                  <td>
                    {p.deviceType === 'multiDevice' || p.backedUp ? 'synced' : 'this device only'}
                    {p.transports.length > 0 ? (
                      <span className="muted"> · {p.transports.join(', ')}</span>
                    ) : null}
                  </td>
                  <td>{formatTime(p.createdAt)}</td>
                  <td>
                    <button type="button" className="btn small danger" onClick={() => setRemoving(p)}>
                      Remove<span className="sr-only"> {p.name ?? 'passkey'}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {all.length > PASSKEYS_PER_PAGE ? (
            <Pager
              page={Math.min(page, pages)}
              totalPages={pages}
              hasNext={page < pages}
              onPage={setPage}
              label="Passkey pages"
            />
          ) : null}
        </>
      )}
      {supported ? (
        <form className="row account-add" onSubmit={submit}>
          <div className="grow">
            <TextField
              label="New passkey name"
              value={name}
              onChange={setName}
              placeholder={defaultPasskeyName()}
              maxLength={100}
              autoComplete="off"
            />
          </div>
          <button type="submit" className="btn primary" disabled={add.isPending}>
            {add.isPending ? 'Waiting for the browser…' : 'Add a passkey'}
          </button>
        </form>
      ) : (
        <p className="warn-note">
          This browser cannot make passkeys here: passkeys need https (or http://localhost) and WebAuthn.
        </p>
      )}
      {add.error && !isBastideError(add.error, 'PASSKEY_CANCELLED') ? <ErrorNote error={add.error} /> : null}
      {add.error && isBastideError(add.error, 'PASSKEY_CANCELLED') ? (
        <p className="muted" role="status">
          No passkey was added (the browser’s prompt was closed).
        </p>
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Remove the passkey “${removing.name ?? 'unnamed'}”?`}
          confirmLabel="Remove passkey"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await client.admin.auth.removePasskey(removing.id)
            await queryClient.invalidateQueries({ queryKey: ['account', 'passkeys'] })
          }}
        >
          <p>It no longer signs you in. Your device may keep showing it until you delete it there too.</p>
        </ConfirmDialog>
      ) : null}
    </Section>
  )
}

/** A name that tells devices apart: "Chrome on Linux". */
function defaultPasskeyName(): string {
  return describeUserAgent(navigator.userAgent)
}

type SessionInfo = ConsoleSessionInfo

const SESSIONS_PER_PAGE = 10

/** Where this admin is signed in: end one session, or all of them. */
function SessionsSection() {
  const client = useClient()
  const queryClient = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  const [ending, setEnding] = useState<SessionInfo | null>(null)
  const [page, setPage] = useState(1)
  const sessions = useQuery({
    queryKey: ['account', 'sessions'],
    queryFn: ({ signal }) => client.admin.auth.listSessions({ signal }),
  })
  const all = sessions.data ?? []
  const pages = Math.max(1, Math.ceil(all.length / SESSIONS_PER_PAGE))
  const current = Math.min(page, pages)
  const shown = all.slice((current - 1) * SESSIONS_PER_PAGE, current * SESSIONS_PER_PAGE)
  return (
    <Section title="Sessions" status={<span className="badge">{all.length}</span>}>
      <p className="muted">Signed in on a computer you no longer use? End that session, or all of them.</p>
      <ErrorNote error={sessions.error} />
      {sessions.isPending ? (
        <Loading />
      ) : (
        <>
          <table className="table">
            <caption className="sr-only">Your sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">IP address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((x) => (
                <tr key={x.id}>
                  <td>
                    <span title={x.userAgent ?? undefined}>{describeUserAgent(x.userAgent)}</span>
                    {x.current ? <span className="badge ok account-this">this browser</span> : null}
                  </td>
                  <td className="mono">{x.ipAddress ?? <span className="muted">unknown</span>}</td>
                  <td>{formatTime(x.createdAt)}</td>
                  <td>{formatTime(x.expiresAt)}</td>
                  <td>
                    {x.current ? null : (
                      <button type="button" className="btn small danger" onClick={() => setEnding(x)}>
                        End<span className="sr-only"> the session of {describeUserAgent(x.userAgent)}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {all.length > SESSIONS_PER_PAGE ? (
            <Pager
              page={current}
              totalPages={pages}
              hasNext={current < pages}
              onPage={setPage}
              label="Session pages"
            />
          ) : null}
        </>
      )}
      <div className="row">
        <button type="button" className="btn danger" onClick={() => setConfirming(true)}>
          Sign out everywhere
        </button>
      </div>
      {ending ? (
        <ConfirmDialog
          title="End this session?"
          confirmLabel="End session"
          danger
          onClose={() => setEnding(null)}
          onConfirm={async () => {
            await client.admin.auth.revokeSession(ending.id)
            await queryClient.invalidateQueries({ queryKey: ['account', 'sessions'] })
          }}
        >
          <p>
            {describeUserAgent(ending.userAgent)}
            {ending.ipAddress ? ` (${ending.ipAddress})` : ''}, signed in {formatTime(ending.createdAt)}, is
            signed out at its next request.
          </p>
        </ConfirmDialog>
      ) : null}
      {confirming ? (
        <ConfirmDialog
          title="Sign out everywhere?"
          confirmLabel="Sign out everywhere"
          danger
          onClose={() => setConfirming(false)}
          onConfirm={() => client.admin.auth.signOutEverywhere()}
        >
          <p>Every browser and script signed in as you is signed out, this one included.</p>
        </ConfirmDialog>
      ) : null}
    </Section>
  )
}

function PasswordForm(props: {
  intro: string
  submitLabel: string
  onSubmit: (password: string) => Promise<unknown>
  onCancel: () => void
}) {
  const [password, setPassword] = useState('')
  const run = useMutation({ mutationFn: () => props.onSubmit(password) })
  return (
    <form
      className="stack account-narrow"
      onSubmit={(e) => {
        e.preventDefault()
        run.mutate()
      }}
    >
      <p>{props.intro}</p>
      <TextField
        label="Your password"
        type="password"
        autoComplete="current-password"
        required
        autoFocus
        value={password}
        onChange={setPassword}
      />
      <ErrorNote error={run.error} />
      <div className="row">
        <button type="submit" className="btn primary" disabled={run.isPending}>
          {run.isPending ? 'Working…' : props.submitLabel}
        </button>
        <button type="button" className="btn" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}

function PasswordDialog(props: {
  title: string
  intro: string
  confirmLabel: string
  danger?: boolean
  onSubmit: (password: string) => Promise<unknown>
  onClose: () => void
}) {
  const [password, setPassword] = useState('')
  const run = useMutation({ mutationFn: () => props.onSubmit(password), onSuccess: props.onClose })
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          run.mutate()
        }}
      >
        <p>{props.intro}</p>
        <TextField
          label="Your password"
          type="password"
          autoComplete="current-password"
          required
          autoFocus
          value={password}
          onChange={setPassword}
        />
        <ErrorNote error={run.error} />
        <div className="row">
          <button
            type="submit"
            className={props.danger ? 'btn danger' : 'btn primary'}
            disabled={run.isPending}
          >
            {run.isPending ? 'Working…' : props.confirmLabel}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
