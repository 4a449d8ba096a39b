/**
 * The passwords attackers try first (the head of public breach corpora). Offline by design: Bastide must
 * not send anything about a password to a third party, and self-hosted servers may have no egress at all.
 */
const COMMON = new Set(
  `123456 123456789 12345678 password qwerty123 qwerty 1234567890 1234567 111111 123123 abc123 password1
  password123 iloveyou 000000 1q2w3e4r 1q2w3e4r5t qwertyuiop 123321 654321 666666 121212 555555 7777777
  987654321 112233 michael superman 1qaz2wsx zaq12wsx dragon monkey letmein football baseball welcome
  shadow master sunshine princess azerty azertyuiop motdepasse soleil doudou chouchou loulou marseille
  admin admin123 administrator root toor changeme changeme123 passw0rd p@ssw0rd p@ssword qwerty1 trustno1
  starwars whatever freedom hello123 computer internet samsung google secret secret123 login master123
  welcome1 welcome123 football1 baseball1 iloveyou1 princess1 sunshine1 charlie aa123456 abcd1234 q1w2e3r4
  asdfghjkl zxcvbnm asdfgh zxcvbnm123 qazwsx 1qazxsw2 123qwe 123abc qwe123 a123456 passpass test123 testtest
  motdepasse123 bonjour bonjour123 jetaime azerty123 123azerty 0123456789 9876543210 11111111 00000000
  12341234 11223344 123456789a 1234567890a password12 password1234 qwerty12 qwerty1234 letmein123`
    .split(/\s+/)
    .filter(Boolean),
)

/** Returns why a password is refused, or undefined. Length is the main defence; the rest stops the obvious. */
export function passwordProblem(
  password: string,
  o: { email?: string | undefined; minLength: number },
): string | undefined {
  if ([...password].length < o.minLength) return `Use at least ${o.minLength} characters.`
  const lower = password.toLowerCase()
  if (COMMON.has(lower) || COMMON.has(lower.replace(/[\d!@#$%^&*.?]+$/, '')))
    return 'This password is among the most common ones; choose another.'
  if (new Set(lower).size < 4) return 'Use more varied characters.'
  const local = o.email?.split('@')[0]?.toLowerCase()
  if (local && local.length >= 4 && lower.includes(local))
    return 'Do not use your email address in your password.'
  return undefined
}
