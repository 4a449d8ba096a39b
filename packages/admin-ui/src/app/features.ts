import { keysFeature } from '../features/keys/index.ts'
import type { ConsoleFeature } from '../lib/feature.ts'

/** The console's capabilities, in navigation order: one line each. */
export const FEATURES: readonly ConsoleFeature[] = [keysFeature]
