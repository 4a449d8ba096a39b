/** The made-up addresses of users who signed up by phone: `<digits>@phone.invalid`. */
export const PHONE_EMAIL_DOMAIN = 'phone.invalid'
/** The made-up addresses of anonymous users: `temp-<id>@anonymous.invalid`. */
export const ANONYMOUS_EMAIL_DOMAIN = 'anonymous.invalid'

const RESERVED = [PHONE_EMAIL_DOMAIN, ANONYMOUS_EMAIL_DOMAIN] as const

/**
 * Whether an address a client gives is at one of the domains Bastide makes addresses up in (any case, any
 * subdomain). Nobody may sign up or switch to one: the account would hold the address the phone's owner
 * (or an anonymous user) is about to get.
 */
export function isReservedEmail(email: string): boolean {
  const at = email.lastIndexOf('@')
  if (at < 0) return false
  const domain = email
    .slice(at + 1)
    .trim()
    .toLowerCase()
    .replace(/\.$/, '')
  return RESERVED.some((d) => domain === d || domain.endsWith(`.${d}`))
}
