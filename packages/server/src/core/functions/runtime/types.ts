import type { FunctionLogLine, FunctionManifest } from '@bastide/protocol'
import type { FunctionMailMessage } from './mail-message.ts'

/** The limits one invocation runs under (the function's, capped by the server's maxima). */
export interface SandboxLimits {
  /** Wall time of one invocation, ms: past it the sandbox is killed. */
  readonly timeoutMs: number
  /** The sandbox's V8 heap, MiB; its whole resident memory may be this plus a fixed allowance. */
  readonly memoryMb: number
}

/** What the host does on behalf of one invocation. */
export interface HostBridge {
  /** ctx.client's requests: answered in-process by the server's own app as the invocation's identity. */
  request(req: {
    method: string
    path: string
    headers: Record<string, string>
    body: Uint8Array | null
  }): Promise<{ status: number; headers: [string, string][]; body: Uint8Array }>
  /**
   * ctx.mail.send, its message already checked: resolves once the mail is handed to the SMTP server (or logged,
   * with none configured). Rejects with a message meant for the function's author.
   */
  mail(message: FunctionMailMessage): Promise<void>
  /**
   * ctx.push.send, the message as the function gave it (JSON; the push module checks it): resolves with the queued
   * message's id. Rejects with an InvalidBridgeArgument (a bad message) or a BridgeRefusal, meant for the function's
   * author; any other error's message stays on the host.
   */
  push(message: unknown): Promise<{ id: string }>
  readonly secrets: Readonly<Record<string, string>>
  /** Hosts `fetch` may reach although they resolve to non-public addresses. */
  readonly allowHosts: readonly string[]
}

export type SandboxInput =
  | {
      readonly kind: 'http'
      readonly request: {
        method: string
        url: string
        headers: [string, string][]
        body: ReadableStream<Uint8Array> | null
      }
    }
  | {
      readonly kind: 'event'
      /** The handler's `event` (JSON). */
      readonly event: unknown
      readonly job: { id: string; attempt: number; retryLimit: number } | null
    }

export interface SandboxResult {
  readonly status: 'ok' | 'error' | 'timeout' | 'killed'
  /** The message (and stack frames inside the function only), never host internals. */
  readonly error: string | null
  /** Bounded (MAX_LOG_LINES lines of at most MAX_LOG_LINE_BYTES), secrets' values redacted. */
  readonly logs: FunctionLogLine[]
  readonly durationMs: number
  /** Event handlers' JSON return value. */
  readonly value?: unknown
  /** HTTP: the function's answer, its body streaming out of the sandbox. */
  readonly response?: { status: number; headers: [string, string][]; body: ReadableStream<Uint8Array> }
  /**
   * HTTP: the invocation's final result once the response body has been sent (an HTTP invocation resolves as
   * soon as the function answers, before its body is through: status, logs and duration are only final here).
   */
  readonly done?: Promise<SandboxResult>
}

export interface FunctionRuntime {
  /** Loads `source` in a throwaway sandbox; returns its manifest, or throws AppError FUNCTION_INVALID with the error. */
  inspect(source: string): Promise<FunctionManifest>
  /** `key` identifies the module version (`name@version`): warm sandboxes are reused per key, never shared across keys. */
  invoke(
    key: string,
    source: string,
    limits: SandboxLimits,
    input: SandboxInput,
    host: HostBridge,
  ): Promise<SandboxResult>
  /** Stops the sandboxes of keys other than the ones given (after deploy/rollback/delete). */
  retain(keys: ReadonlySet<string>): void
  stats(): { readonly workers: number; readonly invocations: number }
  close(): Promise<void>
}
