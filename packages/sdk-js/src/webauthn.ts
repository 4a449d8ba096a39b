import { BastideError } from './errors.ts'
import { base64url, fromBase64url } from './pkce.ts'

/**
 * WebAuthn in its JSON form (W3C WebAuthn Level 3 `…JSON` types): what the server sends and takes, and what
 * React Native passkey libraries (react-native-passkey, expo-passkey, …) accept and return as they are.
 * Binary fields are base64url strings.
 */
export type Base64URLString = string

export type AuthenticatorTransportJSON =
  | 'ble'
  | 'cable'
  | 'hybrid'
  | 'internal'
  | 'nfc'
  | 'smart-card'
  | 'usb'

export interface PublicKeyCredentialDescriptorJSON {
  readonly id: Base64URLString
  readonly type: 'public-key'
  readonly transports?: readonly AuthenticatorTransportJSON[]
}

export interface PublicKeyCredentialCreationOptionsJSON {
  readonly rp: { readonly name: string; readonly id?: string }
  readonly user: { readonly id: Base64URLString; readonly name: string; readonly displayName: string }
  readonly challenge: Base64URLString
  readonly pubKeyCredParams: readonly { readonly type: 'public-key'; readonly alg: number }[]
  readonly timeout?: number
  readonly excludeCredentials?: readonly PublicKeyCredentialDescriptorJSON[]
  readonly authenticatorSelection?: {
    readonly authenticatorAttachment?: 'platform' | 'cross-platform'
    readonly requireResidentKey?: boolean
    readonly residentKey?: 'discouraged' | 'preferred' | 'required'
    readonly userVerification?: 'discouraged' | 'preferred' | 'required'
  }
  readonly hints?: readonly string[]
  readonly attestation?: 'direct' | 'enterprise' | 'indirect' | 'none'
  readonly attestationFormats?: readonly string[]
  readonly extensions?: Readonly<Record<string, unknown>>
}

export interface PublicKeyCredentialRequestOptionsJSON {
  readonly challenge: Base64URLString
  readonly timeout?: number
  readonly rpId?: string
  readonly allowCredentials?: readonly PublicKeyCredentialDescriptorJSON[]
  readonly userVerification?: 'discouraged' | 'preferred' | 'required'
  readonly hints?: readonly string[]
  readonly extensions?: Readonly<Record<string, unknown>>
}

export interface RegistrationResponseJSON {
  readonly id: Base64URLString
  readonly rawId: Base64URLString
  readonly type: 'public-key'
  readonly response: {
    readonly clientDataJSON: Base64URLString
    readonly attestationObject: Base64URLString
    readonly authenticatorData?: Base64URLString
    readonly transports?: readonly AuthenticatorTransportJSON[]
    readonly publicKeyAlgorithm?: number
    readonly publicKey?: Base64URLString
  }
  readonly authenticatorAttachment?: 'platform' | 'cross-platform' | null
  readonly clientExtensionResults: Readonly<Record<string, unknown>>
}

export interface AuthenticationResponseJSON {
  readonly id: Base64URLString
  readonly rawId: Base64URLString
  readonly type: 'public-key'
  readonly response: {
    readonly clientDataJSON: Base64URLString
    readonly authenticatorData: Base64URLString
    readonly signature: Base64URLString
    readonly userHandle?: Base64URLString
  }
  readonly authenticatorAttachment?: 'platform' | 'cross-platform' | null
  readonly clientExtensionResults: Readonly<Record<string, unknown>>
}

/** Makes a passkey on the platform: the `createCredential` callback of `PasskeyService.register`. */
export type CreateCredential = (
  options: PublicKeyCredentialCreationOptionsJSON,
) => Promise<RegistrationResponseJSON>
/** Signs a passkey challenge on the platform: the `getCredential` callback of `PasskeyService.signIn`. */
export type GetCredential = (
  options: PublicKeyCredentialRequestOptionsJSON,
) => Promise<AuthenticationResponseJSON>

/** The parts of the Level 3 API not every DOM typing or browser has. */
interface PublicKeyCredentialStatics {
  parseCreationOptionsFromJSON?: (o: unknown) => PublicKeyCredentialCreationOptions
  parseRequestOptionsFromJSON?: (o: unknown) => PublicKeyCredentialRequestOptions
}

/** True when this runtime can run passkey ceremonies itself (a browser with WebAuthn). */
export function browserSupportsPasskeys(): boolean {
  const g = globalThis as { PublicKeyCredential?: unknown; navigator?: { credentials?: unknown } }
  return typeof g.PublicKeyCredential === 'function' && !!g.navigator?.credentials
}

/**
 * The browser's `navigator.credentials.create`, in JSON. The default `createCredential`.
 *
 * @example
 * const passkey = await client.auth.passkey.register({ name: 'Laptop', createCredential: browserCreateCredential })
 */
export const browserCreateCredential: CreateCredential = async (options) => {
  const PKC = requireWebAuthn()
  const publicKey: PublicKeyCredentialCreationOptions = PKC.parseCreationOptionsFromJSON
    ? PKC.parseCreationOptionsFromJSON(options)
    : {
        ...(options as unknown as PublicKeyCredentialCreationOptions),
        challenge: buf(options.challenge),
        user: { ...options.user, id: buf(options.user.id) },
        pubKeyCredParams: [...options.pubKeyCredParams],
        excludeCredentials: (options.excludeCredentials ?? []).map(descriptor),
      }
  const cred = (await ceremony(() => navigator.credentials.create({ publicKey }))) as PublicKeyCredential
  const asJSON = (cred as { toJSON?: () => unknown }).toJSON
  if (typeof asJSON === 'function') return asJSON.call(cred) as RegistrationResponseJSON
  const r = cred.response as AuthenticatorAttestationResponse
  const optional = r as Partial<
    Pick<
      AuthenticatorAttestationResponse,
      'getTransports' | 'getPublicKeyAlgorithm' | 'getPublicKey' | 'getAuthenticatorData'
    >
  >
  const publicKeyBytes = optional.getPublicKey?.call(r)
  const authData = optional.getAuthenticatorData?.call(r)
  return {
    id: cred.id,
    rawId: b64(cred.rawId),
    type: 'public-key',
    response: {
      clientDataJSON: b64(r.clientDataJSON),
      attestationObject: b64(r.attestationObject),
      ...(authData ? { authenticatorData: b64(authData) } : {}),
      transports: (optional.getTransports?.call(r) ?? []) as AuthenticatorTransportJSON[],
      ...(optional.getPublicKeyAlgorithm
        ? { publicKeyAlgorithm: optional.getPublicKeyAlgorithm.call(r) }
        : {}),
      ...(publicKeyBytes ? { publicKey: b64(publicKeyBytes) } : {}),
    },
    authenticatorAttachment: attachment(cred),
    clientExtensionResults: cred.getClientExtensionResults() as Record<string, unknown>,
  }
}

/**
 * The browser's `navigator.credentials.get`, in JSON. The default `getCredential`.
 *
 * @example
 * const session = await client.auth.passkey.signIn({ getCredential: browserGetCredential })
 */
export const browserGetCredential: GetCredential = async (options) => {
  const PKC = requireWebAuthn()
  const publicKey: PublicKeyCredentialRequestOptions = PKC.parseRequestOptionsFromJSON
    ? PKC.parseRequestOptionsFromJSON(options)
    : {
        ...(options as unknown as PublicKeyCredentialRequestOptions),
        challenge: buf(options.challenge),
        allowCredentials: (options.allowCredentials ?? []).map(descriptor),
      }
  const cred = (await ceremony(() => navigator.credentials.get({ publicKey }))) as PublicKeyCredential
  const asJSON = (cred as { toJSON?: () => unknown }).toJSON
  if (typeof asJSON === 'function') return asJSON.call(cred) as AuthenticationResponseJSON
  const r = cred.response as AuthenticatorAssertionResponse
  return {
    id: cred.id,
    rawId: b64(cred.rawId),
    type: 'public-key',
    response: {
      clientDataJSON: b64(r.clientDataJSON),
      authenticatorData: b64(r.authenticatorData),
      signature: b64(r.signature),
      ...(r.userHandle ? { userHandle: b64(r.userHandle) } : {}),
    },
    authenticatorAttachment: attachment(cred),
    clientExtensionResults: cred.getClientExtensionResults() as Record<string, unknown>,
  }
}

function requireWebAuthn(): PublicKeyCredentialStatics {
  if (!browserSupportsPasskeys()) {
    throw new BastideError({
      code: 'PASSKEYS_UNSUPPORTED',
      status: 0,
      message:
        'No WebAuthn here: in React Native pass createCredential/getCredential from a passkey library ' +
        '(e.g. react-native-passkey); in a browser, passkeys need https or http://localhost.',
    })
  }
  return (globalThis as unknown as { PublicKeyCredential: PublicKeyCredentialStatics }).PublicKeyCredential
}

/** Runs a ceremony, turning the browser's DOMExceptions into errors a UI can branch on. */
async function ceremony(run: () => Promise<Credential | null>): Promise<Credential> {
  let cred: Credential | null
  try {
    cred = await run()
  } catch (cause) {
    const name = (cause as { name?: string })?.name
    const code =
      name === 'NotAllowedError' || name === 'AbortError'
        ? 'PASSKEY_CANCELLED'
        : name === 'InvalidStateError'
          ? 'PASSKEY_ALREADY_REGISTERED'
          : 'PASSKEY_FAILED'
    throw new BastideError({ code, status: 0, message: (cause as Error)?.message || code, cause })
  }
  if (!cred)
    throw new BastideError({ code: 'PASSKEY_CANCELLED', status: 0, message: 'No credential was chosen.' })
  return cred
}

function descriptor(d: PublicKeyCredentialDescriptorJSON): PublicKeyCredentialDescriptor {
  return {
    type: 'public-key',
    id: buf(d.id),
    ...(d.transports ? { transports: [...d.transports] as AuthenticatorTransport[] } : {}),
  }
}

function attachment(cred: PublicKeyCredential): 'platform' | 'cross-platform' | null {
  const a = (cred as { authenticatorAttachment?: string | null }).authenticatorAttachment
  return a === 'platform' || a === 'cross-platform' ? a : null
}

function buf(s: string): ArrayBuffer {
  const bytes = fromBase64url(s)
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

function b64(b: ArrayBuffer | ArrayBufferView): string {
  return base64url(
    b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
  )
}
