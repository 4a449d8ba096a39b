import { SecretOnce } from '../../components/ui/SecretOnce.tsx'

/** A signing secret, just created or rotated: the only time it is shown. */
export function SecretShown(props: { secret: string }) {
  return (
    <SecretOnce label="Signing secret" value={props.secret}>
      Copy the signing secret now: it is shown this once. Receivers verify the <code>Bastide-Signature</code>{' '}
      header with it (HMAC-SHA256 of <code>t.body</code>, see docs/webhooks.md).
    </SecretOnce>
  )
}
