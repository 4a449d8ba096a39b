import { defineFeature } from '../../lib/feature.ts'
import { UserPage } from './UserPage.tsx'
import { UsersPage } from './UsersPage.tsx'

export const usersFeature = defineFeature({
  id: 'users',
  nav: { label: 'Users', to: '/users', order: 30 },
  pages: [
    { path: 'users', component: UsersPage },
    { path: 'users/$id', component: UserPage },
  ],
})
