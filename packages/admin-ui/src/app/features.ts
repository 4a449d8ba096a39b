import { collectionsFeature } from '../features/collections/index.ts'
import { filesFeature } from '../features/files/index.ts'
import { keysFeature } from '../features/keys/index.ts'
import { settingsFeature } from '../features/settings/index.ts'
import type { ConsoleFeature } from '../lib/feature.ts'

/** The console's capabilities, in navigation order: one line each. */
export const FEATURES: readonly ConsoleFeature[] = [
  collectionsFeature,
  keysFeature,
  filesFeature,
  settingsFeature,
]
