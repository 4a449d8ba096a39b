import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const recordsFeature = defineFeature({
  id: 'records',
  nav: { label: 'Data', to: '/data', order: 20 },
  pages: [
    { path: 'data', component: lazyRouteComponent(() => import('./DataIndexPage.tsx'), 'DataIndexPage') },
    {
      path: 'data/$collection',
      component: lazyRouteComponent(() => import('./DataPage.tsx'), 'DataPage'),
    },
  ],
})
