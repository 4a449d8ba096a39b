import { defineFeature } from '../../lib/feature.ts'
import { AuditPage } from './AuditPage.tsx'

export const auditFeature = defineFeature({
  id: 'audit',
  nav: { label: 'Audit log', to: '/audit', order: 90 },
  pages: [{ path: 'audit', component: AuditPage }],
})
