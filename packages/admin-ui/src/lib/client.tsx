import { type BastideClient, createClient } from '@bastide/sdk'
import { createContext, type ReactNode, useContext } from 'react'

/** The console's one SDK client: same origin as the page, acting as the signed-in console admin. */
export function createConsoleClient(url = window.location.origin): BastideClient {
  // The admin's session is kept under `bastide.console` (ConsoleAuth adds `.console` to the key).
  return createClient({ url, console: true, storageKey: 'bastide' })
}

const ClientContext = createContext<BastideClient | null>(null)

export function ClientProvider(props: { client: BastideClient; children: ReactNode }) {
  return <ClientContext.Provider value={props.client}>{props.children}</ClientContext.Provider>
}

/** The SDK client: every server call of the console goes through it. */
export function useClient(): BastideClient {
  const c = useContext(ClientContext)
  if (!c) throw new Error('useClient outside <ClientProvider>')
  return c
}
