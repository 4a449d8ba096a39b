import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const backupsFeature = defineFeature({
  id: 'backups',
  nav: { label: 'Backups', to: '/backups', order: 92 },
  pages: [
    { path: 'backups', component: lazyRouteComponent(() => import('./BackupsPage.tsx'), 'BackupsPage') },
  ],
})
