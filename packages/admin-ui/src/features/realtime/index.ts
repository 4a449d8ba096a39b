import { defineFeature } from '../../lib/feature.ts'
import { RealtimePage } from './RealtimePage.tsx'

export const realtimeFeature = defineFeature({
  id: 'realtime',
  nav: { label: 'Realtime', to: '/realtime', order: 70 },
  pages: [{ path: 'realtime', component: RealtimePage }],
})
