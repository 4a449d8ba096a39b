import { lazyRouteComponent } from '@tanstack/react-router'
import { defineFeature } from '../../lib/feature.ts'

export const functionsFeature = defineFeature({
  id: 'functions',
  nav: { label: 'Functions', to: '/functions', order: 50 },
  pages: [
    {
      path: 'functions',
      component: lazyRouteComponent(() => import('./FunctionsPage.tsx'), 'FunctionsPage'),
    },
    {
      path: 'functions/new',
      component: lazyRouteComponent(() => import('./NewFunctionPage.tsx'), 'NewFunctionPage'),
    },
    {
      path: 'functions/$name',
      component: lazyRouteComponent(() => import('./FunctionPage.tsx'), 'FunctionPage'),
    },
  ],
})
