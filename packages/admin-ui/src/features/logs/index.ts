import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const logsFeature = defineFeature({
  id: 'logs',
  nav: { label: 'Request log', to: '/logs', order: 85 },
  pages: [{ path: 'logs', component: lazyRouteComponent(() => import('./LogsPage.tsx'), 'LogsPage') }],
})
