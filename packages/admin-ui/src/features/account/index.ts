import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const accountFeature = defineFeature({
  id: 'account',
  nav: { label: 'Your account', to: '/account', order: 100 },
  pages: [
    { path: 'account', component: lazyRouteComponent(() => import('./AccountPage.tsx'), 'AccountPage') },
  ],
})
