import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const metricsFeature = defineFeature({
  id: 'metrics',
  nav: { label: 'Metrics', to: '/metrics', order: 80 },
  pages: [
    { path: 'metrics', component: lazyRouteComponent(() => import('./MetricsPage.tsx'), 'MetricsPage') },
  ],
})
