import { z } from 'zod'

/**
 * A comma-separated list of host names or addresses from the environment (`a.internal, 10.0.0.5, [fd00::1]`):
 * lowercased, brackets of IPv6 literals removed, empty entries dropped; unset or empty is the empty list.
 */
export const hostListSetting = () =>
  z.preprocess(
    (v: unknown) => (v === '' ? undefined : v),
    z
      .string()
      .optional()
      .transform((v) =>
        (v ?? '')
          .split(',')
          .map((h) =>
            h
              .trim()
              .toLowerCase()
              .replace(/^\[(.*)\]$/, '$1'),
          )
          .filter((h) => h !== ''),
      ),
  )
