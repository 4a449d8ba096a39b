import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const adminsFeature = defineFeature({
  id: 'admins',
  nav: { label: 'Admins', to: '/admins', order: 95 },
  pages: [{ path: 'admins', component: lazyRouteComponent(() => import('./AdminsPage.tsx'), 'AdminsPage') }],
})
