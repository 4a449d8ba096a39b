import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const collectionsFeature = defineFeature({
  id: 'collections',
  nav: { label: 'Collections', to: '/collections', order: 10 },
  pages: [
    {
      path: 'collections',
      component: lazyRouteComponent(() => import('./CollectionsPage.tsx'), 'CollectionsPage'),
    },
    {
      path: 'collections/new',
      component: lazyRouteComponent(() => import('./NewCollectionPage.tsx'), 'NewCollectionPage'),
    },
    {
      path: 'collections/$name',
      component: lazyRouteComponent(() => import('./CollectionPage.tsx'), 'CollectionPage'),
    },
  ],
})
