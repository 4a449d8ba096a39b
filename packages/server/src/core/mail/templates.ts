export const MAIL_KINDS = [
  'verify-email',
  'reset-password',
  'magic-link',
  'otp',
  'new-device',
  'change-email',
  'existing-account',
] as const
export type MailKind = (typeof MAIL_KINDS)[number]
export const LOCALES = ['en', 'fr'] as const
export type Locale = (typeof LOCALES)[number]

export interface MailVars {
  readonly appName: string
  /** A link to follow (verification, reset, magic link, email change). */
  readonly url?: string
  /** A one-time code. */
  readonly code?: string
  /** new-device: what we know of the device. */
  readonly device?: string
  readonly ip?: string
  /** Minutes the link or code stays valid. */
  readonly minutes?: number
}

interface Template {
  readonly subject: (v: MailVars) => string
  /** Paragraphs; the link (if any) and the code (if any) are rendered after them. */
  readonly body: (v: MailVars) => readonly string[]
  readonly action?: string
}

const T: Record<Locale, Record<MailKind, Template>> = {
  en: {
    'verify-email': {
      subject: (v) => `Confirm your email for ${v.appName}`,
      body: (v) => [`Confirm this address to finish setting up your ${v.appName} account.`, expiresEn(v)],
      action: 'Confirm my email',
    },
    'reset-password': {
      subject: (v) => `Reset your ${v.appName} password`,
      body: (v) => [
        'Someone (hopefully you) asked to reset your password. Follow the link to choose a new one.',
        expiresEn(v),
        'If you did not ask for this, ignore this email: your password stays as it is.',
      ],
      action: 'Choose a new password',
    },
    'magic-link': {
      subject: (v) => `Your sign-in link for ${v.appName}`,
      body: (v) => ['Follow the link to sign in. It works once.', expiresEn(v)],
      action: 'Sign in',
    },
    otp: {
      subject: (v) => `${v.code} is your ${v.appName} code`,
      body: (v) => ['Enter this code to continue. It works once.', expiresEn(v)],
    },
    'new-device': {
      subject: (v) => `New sign-in to your ${v.appName} account`,
      body: (v) => [
        `Your account was just signed in from ${v.device ?? 'a new device'}${v.ip ? ` (${v.ip})` : ''}.`,
        'If this was not you, change your password and sign out your other sessions.',
      ],
    },
    'change-email': {
      subject: (v) => `Confirm your new email for ${v.appName}`,
      body: (v) => ['Confirm that this address should become the one on your account.', expiresEn(v)],
      action: 'Confirm the change',
    },
    'existing-account': {
      subject: (v) => `Your ${v.appName} account`,
      body: () => [
        'Someone tried to create an account with this address, which already has one. Sign in instead, or reset your password if you forgot it.',
        'If this was not you, you can ignore this email.',
      ],
    },
  },
  fr: {
    'verify-email': {
      subject: (v) => `Confirmez votre adresse pour ${v.appName}`,
      body: (v) => [
        `Confirmez cette adresse pour terminer la création de votre compte ${v.appName}.`,
        expiresFr(v),
      ],
      action: 'Confirmer mon adresse',
    },
    'reset-password': {
      subject: (v) => `Réinitialisez votre mot de passe ${v.appName}`,
      body: (v) => [
        'Quelqu’un (vous, espérons-le) a demandé à réinitialiser votre mot de passe. Suivez le lien pour en choisir un nouveau.',
        expiresFr(v),
        'Si vous n’êtes pas à l’origine de cette demande, ignorez ce message : votre mot de passe ne change pas.',
      ],
      action: 'Choisir un nouveau mot de passe',
    },
    'magic-link': {
      subject: (v) => `Votre lien de connexion à ${v.appName}`,
      body: (v) => ['Suivez le lien pour vous connecter. Il ne fonctionne qu’une fois.', expiresFr(v)],
      action: 'Me connecter',
    },
    otp: {
      subject: (v) => `${v.code} est votre code ${v.appName}`,
      body: (v) => ['Saisissez ce code pour continuer. Il ne fonctionne qu’une fois.', expiresFr(v)],
    },
    'new-device': {
      subject: (v) => `Nouvelle connexion à votre compte ${v.appName}`,
      body: (v) => [
        `Votre compte vient d’être utilisé depuis ${v.device ?? 'un nouvel appareil'}${v.ip ? ` (${v.ip})` : ''}.`,
        'Si ce n’était pas vous, changez votre mot de passe et déconnectez vos autres sessions.',
      ],
    },
    'change-email': {
      subject: (v) => `Confirmez votre nouvelle adresse pour ${v.appName}`,
      body: (v) => ['Confirmez que cette adresse doit devenir celle de votre compte.', expiresFr(v)],
      action: 'Confirmer le changement',
    },
    'existing-account': {
      subject: (v) => `Votre compte ${v.appName}`,
      body: () => [
        'Quelqu’un a essayé de créer un compte avec cette adresse, qui en a déjà un. Connectez-vous plutôt, ou réinitialisez votre mot de passe si vous l’avez oublié.',
        'Si ce n’était pas vous, ignorez ce message.',
      ],
    },
  },
}

function expiresEn(v: MailVars): string {
  return v.minutes ? `It expires in ${formatMinutes(v.minutes, 'en')}.` : ''
}
function expiresFr(v: MailVars): string {
  return v.minutes ? `Il expire dans ${formatMinutes(v.minutes, 'fr')}.` : ''
}
function formatMinutes(m: number, l: Locale): string {
  if (m % 60 === 0) {
    const h = m / 60
    return l === 'en' ? `${h} hour${h > 1 ? 's' : ''}` : `${h} heure${h > 1 ? 's' : ''}`
  }
  return `${m} minute${m > 1 ? 's' : ''}`
}

/** `fr-CA,fr;q=0.9,en;q=0.8` → 'fr'. English when nothing matches. */
export function pickLocale(...prefs: (string | null | undefined)[]): Locale {
  for (const p of prefs) {
    if (!p) continue
    const ranked = p
      .split(',')
      .map((part) => {
        const [tag, ...params] = part.trim().split(';')
        const q = params.map((x) => /^\s*q=([\d.]+)/.exec(x)?.[1]).find(Boolean)
        return { lang: (tag ?? '').trim().slice(0, 2).toLowerCase(), q: q ? Number(q) : 1 }
      })
      .filter((x) => x.q > 0)
      .sort((a, b) => b.q - a.q)
    for (const r of ranked) if ((LOCALES as readonly string[]).includes(r.lang)) return r.lang as Locale
  }
  return 'en'
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

export function renderMail(kind: MailKind, locale: Locale, vars: MailVars) {
  const t = T[locale][kind]
  const paragraphs = t.body(vars).filter(Boolean)
  const text = [
    ...paragraphs,
    ...(vars.code ? [vars.code] : []),
    ...(vars.url ? [`${t.action ?? ''}: ${vars.url}`.replace(/^: /, '')] : []),
  ].join('\n\n')
  const html = `<!doctype html><html lang="${locale}"><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111">${paragraphs
    .map((p) => `<p>${escapeHtml(p)}</p>`)
    .join('')}${
    vars.code
      ? `<p style="font-size:28px;letter-spacing:4px;font-weight:600">${escapeHtml(vars.code)}</p>`
      : ''
  }${
    vars.url
      ? `<p><a href="${escapeHtml(vars.url)}" style="display:inline-block;padding:10px 16px;background:#111;color:#fff;text-decoration:none;border-radius:6px">${escapeHtml(t.action ?? vars.url)}</a></p><p style="font-size:12px;color:#555">${escapeHtml(vars.url)}</p>`
      : ''
  }</body></html>`
  return { subject: t.subject(vars), text, html }
}
