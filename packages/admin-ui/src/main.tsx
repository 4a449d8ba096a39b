import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { RouterProvider } from '@tanstack/react-router'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { createConsoleRouter } from './app/router.tsx'
import { applyTheme, initialTheme } from './app/theme.ts'
import { ClientProvider, createConsoleClient } from './lib/client.tsx'
import './styles.css'

applyTheme(initialTheme())

const client = createConsoleClient()
const queryClient = new QueryClient({
  defaultOptions: {
    // Errors are shown with the server's message; retrying a 4xx only delays that.
    queries: { retry: (n, e) => n < 2 && !(e as { status?: number }).status, staleTime: 5_000 },
  },
})
const router = createConsoleRouter()

const root = document.getElementById('root')
if (root)
  createRoot(root).render(
    <StrictMode>
      <ClientProvider client={client}>
        <QueryClientProvider client={queryClient}>
          <RouterProvider router={router} />
        </QueryClientProvider>
      </ClientProvider>
    </StrictMode>,
  )
