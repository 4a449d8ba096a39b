import { describe, expect, it } from 'vitest'
import { describeCron } from './describe-cron.ts'

describe('describeCron', () => {
  it('says the common schedules in words', () => {
    expect(describeCron('0 3 * * *')).toBe('every day at 03:00 UTC')
    expect(describeCron('@daily')).toBe('every day at 00:00 UTC')
    expect(describeCron('@hourly')).toBe('every hour at 00 minutes past')
    expect(describeCron('*/15 * * * *')).toBe('every 15 minutes')
    expect(describeCron('* * * * *')).toBe('every minute')
    expect(describeCron('30 12 * * mon-fri')).toBe('every Monday to Friday at 12:30 UTC')
    expect(describeCron('0 4 * * 0,6')).toBe('every Sunday, Saturday at 04:00 UTC')
    expect(describeCron('0 4 * * 7')).toBe('every Sunday at 04:00 UTC')
    expect(describeCron('15 1 1 * *')).toBe('on the 1st of every month at 01:15 UTC')
    expect(describeCron('0 0 22 jan *')).toBe('on the 22nd of Jan at 00:00 UTC')
    expect(describeCron('@weekly')).toBe('every Sunday at 00:00 UTC')
    // Words come from the parsed fields, so a step over days is as sayable as the list it stands for.
    expect(describeCron('0 3 * * */2')).toBe('every Sunday, Tuesday, Thursday, Saturday at 03:00 UTC')
  })

  it('gives up on what it cannot say exactly', () => {
    expect(describeCron('0 */6 * * *')).toBeUndefined()
    expect(describeCron('0 3 1-7 * mon')).toBeUndefined()
    // Not a cron expression the server accepts: no words that pretend it is.
    expect(describeCron('60 * * * *')).toBeUndefined()
    expect(describeCron('0 3 * *')).toBeUndefined()
  })
})
