import type { RouteComponent } from '@tanstack/react-router'

/**
 * One page of a feature, under the console's layout (path relative to /_/, with `$params`). Pages are loaded when
 * first visited: `lazyRouteComponent(() => import('./XPage.tsx'), 'XPage')`, so the first load stays small.
 */
export interface ConsolePage {
  readonly path: string
  readonly component: RouteComponent
}

/**
 * A console capability: its pages and its entry in the navigation. Adding one is a folder under features/ plus a
 * line in app/features.ts (functions, push, sync and metrics will add theirs).
 */
export interface ConsoleFeature {
  readonly id: string
  readonly nav?: { readonly label: string; readonly to: string; readonly order: number }
  readonly pages: readonly ConsolePage[]
}

export function defineFeature(f: ConsoleFeature): ConsoleFeature {
  return f
}
