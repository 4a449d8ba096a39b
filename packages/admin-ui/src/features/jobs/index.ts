import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const jobsFeature = defineFeature({
  id: 'jobs',
  nav: { label: 'Jobs', to: '/jobs', order: 55 },
  pages: [{ path: 'jobs', component: lazyRouteComponent(() => import('./JobsPage.tsx'), 'JobsPage') }],
})
