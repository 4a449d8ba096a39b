import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const schemaFeature = defineFeature({
  id: 'schema',
  nav: { label: 'Schema', to: '/schema', order: 15 },
  pages: [{ path: 'schema', component: lazyRouteComponent(() => import('./SchemaPage.tsx'), 'SchemaPage') }],
})
