import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

/** Push notifications: the delivery log, a test send, devices, topics and provider credentials. */
export const pushFeature = defineFeature({
  id: 'push',
  nav: { label: 'Push', to: '/push', order: 56 },
  pages: [
    { path: 'push', component: lazyRouteComponent(() => import('./MessagesPage.tsx'), 'MessagesPage') },
    {
      path: 'push/messages/$id',
      component: lazyRouteComponent(() => import('./MessagePage.tsx'), 'MessagePage'),
    },
    { path: 'push/send', component: lazyRouteComponent(() => import('./SendPage.tsx'), 'SendPage') },
    { path: 'push/devices', component: lazyRouteComponent(() => import('./DevicesPage.tsx'), 'DevicesPage') },
    { path: 'push/topics', component: lazyRouteComponent(() => import('./TopicsPage.tsx'), 'TopicsPage') },
    {
      path: 'push/credentials',
      component: lazyRouteComponent(() => import('./CredentialsPage.tsx'), 'CredentialsPage'),
    },
  ],
})
