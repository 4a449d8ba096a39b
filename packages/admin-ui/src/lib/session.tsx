import type { ConsoleSession } from '@bastide/sdk'
import { useQueryClient } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { useClient } from './client.tsx'

/** The signed-in admin's session (`undefined` while it is read from storage, `null` when signed out). */
export function useSession(): ConsoleSession | null | undefined {
  const client = useClient()
  const queryClient = useQueryClient()
  const [session, setSession] = useState<ConsoleSession | null | undefined>(undefined)
  useEffect(
    () =>
      client.admin.auth.onAuthStateChange((event, s) => {
        // Another admin's data must not linger in the cache.
        if (event === 'SIGNED_OUT' || event === 'SIGNED_IN') queryClient.clear()
        setSession(s)
      }),
    [client, queryClient],
  )
  return session
}
