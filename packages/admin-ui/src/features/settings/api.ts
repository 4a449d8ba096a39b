import type { AdminSettings, BastideClient } from '@bastide/sdk'

export type {
  OAuthProviderInput,
  OAuthProviderView,
  SettingField,
  Settings,
  SettingsAuthMethod,
  SettingsPatch,
} from '@bastide/sdk'

/** The settings calls of the SDK for this client. */
export function settingsService(client: BastideClient): AdminSettings {
  return client.admin.settings
}
