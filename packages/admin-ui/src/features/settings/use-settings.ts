import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useClient } from '../../lib/client.tsx'
import { type SettingsPatch, settingsService } from './api.ts'

export const SETTINGS_KEY = ['settings'] as const

/** Saves a patch and puts the server's answer (every setting, as now in force) in the cache. */
export function useSaveSettings() {
  const client = useClient()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (patch: SettingsPatch) => settingsService(client).update(patch),
    onSuccess: (s) => queryClient.setQueryData(SETTINGS_KEY, s),
  })
}
