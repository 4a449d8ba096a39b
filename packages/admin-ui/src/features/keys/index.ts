import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const keysFeature = defineFeature({
  id: 'keys',
  nav: { label: 'API keys', to: '/keys', order: 60 },
  pages: [{ path: 'keys', component: lazyRouteComponent(() => import('./KeysPage.tsx'), 'KeysPage') }],
})
