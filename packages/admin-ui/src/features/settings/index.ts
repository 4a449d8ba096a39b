import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const settingsFeature = defineFeature({
  id: 'settings',
  nav: { label: 'Settings', to: '/settings', order: 90 },
  pages: [
    { path: 'settings', component: lazyRouteComponent(() => import('./SettingsPage.tsx'), 'SettingsPage') },
  ],
})
