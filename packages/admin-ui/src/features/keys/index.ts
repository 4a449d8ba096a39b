import { defineFeature } from '../../lib/feature.ts'
import { KeysPage } from './KeysPage.tsx'

export const keysFeature = defineFeature({
  id: 'keys',
  nav: { label: 'API keys', to: '/keys', order: 60 },
  pages: [{ path: 'keys', component: KeysPage }],
})
