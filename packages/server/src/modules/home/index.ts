import { homeRoutes } from '../../http/routes/home.ts'
import { defineModule } from '../define-module.ts'

/** The page at `/`: what runs, where the docs are, the first steps. */
export const homeModule = defineModule({
  id: 'home',
  start({ config, use }) {
    return { routes: [{ path: '/', app: homeRoutes({ config, console: use('consoleApp').mounted }) }] }
  },
})
