import type { AdminFunctions, BastideClient } from '@bastide/sdk'

export type {
  FunctionDetail,
  FunctionSummary,
  FunctionVersion,
  Invocation,
  InvocationPage,
  InvocationQuery,
} from '@bastide/sdk'

/** `client.admin.functions`, for the console: deploy, versions, rollback, secrets, invocations, test runs. */
export function functionsApi(client: BastideClient): AdminFunctions {
  return client.admin.functions
}

export const functionsKey = ['functions'] as const
