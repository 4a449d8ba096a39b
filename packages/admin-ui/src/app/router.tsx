import {
  createRootRoute,
  createRoute,
  createRouter,
  Navigate,
  Outlet,
  redirect,
} from '@tanstack/react-router'
import { SetupPage } from '../features/auth/SetupPage.tsx'
import { SignInPage } from '../features/auth/SignInPage.tsx'
import { ConsoleLayout } from './ConsoleLayout.tsx'
import { FEATURES } from './features.ts'

const rootRoute = createRootRoute({ component: Outlet })

const signIn = createRoute({ getParentRoute: () => rootRoute, path: 'sign-in', component: SignInPage })
const setup = createRoute({ getParentRoute: () => rootRoute, path: 'setup', component: SetupPage })
/** Every page of every feature sits under the signed-in layout. */
const consoleRoute = createRoute({ getParentRoute: () => rootRoute, id: 'console', component: ConsoleLayout })
const home = createRoute({
  getParentRoute: () => consoleRoute,
  path: '/',
  beforeLoad: () => {
    throw redirect({ to: FEATURES.find((f) => f.nav)?.nav?.to ?? '/account' })
  },
})
const pages = FEATURES.flatMap((f) =>
  f.pages.map((p) =>
    createRoute({ getParentRoute: () => consoleRoute, path: p.path, component: p.component }),
  ),
)

export function createConsoleRouter() {
  return createRouter({
    routeTree: rootRoute.addChildren([signIn, setup, consoleRoute.addChildren([home, ...pages])]),
    // Served by the server at /_/ (and by `pnpm dev` at the same base).
    basepath: '/_',
    defaultNotFoundComponent: () => <Navigate to="/" />,
  })
}
