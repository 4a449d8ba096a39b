import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { groupsOfFour, parseOtpauth } from './otpauth.ts'

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('')

describe('parseOtpauth', () => {
  it('reads what better-auth sends for a console admin', () => {
    expect(
      parseOtpauth(
        'otpauth://totp/Bastide%20console:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Bastide%20console&digits=6&period=30',
      ),
    ).toEqual({
      secret: 'JBSW Y3DP EHPK 3PXP',
      issuer: 'Bastide console',
      account: 'ada@example.com',
      digits: 6,
      period: 30,
      algorithm: 'SHA1',
    })
  })

  it('takes the issuer from the label when the parameter is missing, and defaults the rest', () => {
    expect(parseOtpauth('otpauth://totp/Acme:bob?secret=jbswy3dp')).toMatchObject({
      secret: 'JBSW Y3DP',
      issuer: 'Acme',
      account: 'bob',
      digits: 6,
      period: 30,
    })
  })

  it('refuses what is not a TOTP key URI', () => {
    for (const uri of [
      '',
      'not a uri',
      'https://example.com/?secret=JBSWY3DP',
      'otpauth://hotp/x?secret=JBSWY3DP&counter=1',
      'otpauth://totp/x',
      'otpauth://totp/x?secret=not-base32!',
    ])
      expect(parseOtpauth(uri)).toBeNull()
  })

  it('gives back any base32 secret, grouped, whatever the label', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...BASE32), { minLength: 1, maxLength: 64 }),
        fc.string({ maxLength: 40 }),
        (chars, account) => {
          const secret = chars.join('')
          const uri = `otpauth://totp/Issuer:${encodeURIComponent(account)}?secret=${secret}`
          const info = parseOtpauth(uri)
          expect(info?.secret.replace(/ /g, '')).toBe(secret)
          expect(info?.issuer).toBe('Issuer')
        },
      ),
    )
  })

  it('never throws, whatever it is given', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseOtpauth(`otpauth://totp/${s}`)))
  })
})

describe('groupsOfFour', () => {
  it('keeps the characters and puts a space after every fourth but the last', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...BASE32), { maxLength: 40 }), (chars) => {
        const s = chars.join('')
        const g = groupsOfFour(s)
        expect(g.replace(/ /g, '')).toBe(s)
        expect(g.split(' ').every((part, i, all) => part.length === 4 || i === all.length - 1)).toBe(true)
      }),
    )
  })
})
