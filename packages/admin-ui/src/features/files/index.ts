import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const filesFeature = defineFeature({
  id: 'files',
  nav: { label: 'Files', to: '/files', order: 40 },
  pages: [
    { path: 'files', component: lazyRouteComponent(() => import('./BucketsPage.tsx'), 'BucketsPage') },
    { path: 'files/$bucket', component: lazyRouteComponent(() => import('./BucketPage.tsx'), 'BucketPage') },
  ],
})
