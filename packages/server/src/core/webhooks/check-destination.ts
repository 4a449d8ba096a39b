import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { AppError, errors } from '../../errors/index.ts'
import { isPublicAddress } from '../net/safe-fetch.ts'

/** Whether `hostname` is one of `allowHosts` (exact, case-insensitive; IPv6 with or without brackets). */
export function isAllowedHost(hostname: string, allowHosts: readonly string[]): boolean {
  const h = bare(hostname)
  return allowHosts.some((a) => bare(a) === h)
}

const bare = (h: string) =>
  h
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')

/**
 * Checks a webhook's URL when it is saved: http(s), no credentials in it, and a host that resolves only to
 * public addresses unless it is allow-listed (BASTIDE_WEBHOOKS_ALLOW_HOSTS). Each delivery is checked again by
 * safeFetch, since DNS may point elsewhere later. Returns the URL, normalized.
 */
export async function checkDestination(raw: string, allowHosts: readonly string[]): Promise<string> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw errors.validation({ url: { code: 'invalid_url', message: 'Not a URL.' } })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw errors.validation({
      url: { code: 'invalid_url', message: 'Only http and https URLs are allowed.' },
    })
  if (url.username || url.password)
    throw errors.validation({
      url: { code: 'invalid_url', message: 'Put no credentials in the URL; verify the signature instead.' },
    })
  url.hash = ''
  if (isAllowedHost(url.hostname, allowHosts)) return url.toString()
  const host = bare(url.hostname)
  let addresses: string[]
  if (isIP(host)) addresses = [host]
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)
    } catch {
      throw errors.validation({ url: { code: 'unresolvable', message: `${host} does not resolve.` } })
    }
  }
  const refused = addresses.find((a) => !isPublicAddress(a))
  if (refused !== undefined)
    throw new AppError(
      'DESTINATION_REFUSED',
      `${host} resolves to ${refused}, a loopback, private or link-local address; the server's BASTIDE_WEBHOOKS_ALLOW_HOSTS must list it to allow it.`,
      { host, address: refused },
    )
  return url.toString()
}
