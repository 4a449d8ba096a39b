import type { AdminChannels, BastideClient } from '@bastide/sdk'

export type { ChannelDefinitionInfo } from '@bastide/sdk'

/** `client.admin.channels`, for the console. */
export function adminChannels(client: BastideClient): AdminChannels {
  return client.admin.channels
}
