import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const webhooksFeature = defineFeature({
  id: 'webhooks',
  nav: { label: 'Webhooks', to: '/webhooks', order: 55 },
  pages: [
    { path: 'webhooks', component: lazyRouteComponent(() => import('./WebhooksPage.tsx'), 'WebhooksPage') },
    { path: 'webhooks/$id', component: lazyRouteComponent(() => import('./WebhookPage.tsx'), 'WebhookPage') },
  ],
})
