import { describe, expect, it } from 'vitest'
import {
  AUTH_ERROR_STATUS,
  CLIENT_EVENTS,
  ERROR_STATUS,
  EVENT_NAMES,
  FUNCTIONS_ERROR_STATUS,
  REALTIME_ERROR_STATUS,
  RECORD_EVENT_BY_ACTION,
  SERVER_ERROR_STATUS,
  SERVER_EVENTS,
} from '../src/index.ts'

const catalogs = { SERVER_ERROR_STATUS, AUTH_ERROR_STATUS, REALTIME_ERROR_STATUS, FUNCTIONS_ERROR_STATUS }

describe('error codes', () => {
  it.each(Object.entries(catalogs))(
    '%s: SCREAMING_SNAKE codes with a 4xx or 5xx default status',
    (_, catalog) => {
      for (const [code, status] of Object.entries(catalog)) {
        expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/)
        expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`).toBe(true)
      }
    },
  )

  it('declares each code in one catalog only', () => {
    const all = Object.values(catalogs).flatMap((c) => Object.keys(c))
    expect(all.length).toBe(new Set(all).size)
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...all].sort())
  })
})

describe('event names', () => {
  it('are unique dotted lower-case names', () => {
    expect(EVENT_NAMES.length).toBe(new Set(EVENT_NAMES).size)
    for (const name of EVENT_NAMES) expect(name).toMatch(/^[a-z]+(\.[a-z_]+)+$/)
  })

  it('map every record action to a declared event', () => {
    for (const name of Object.values(RECORD_EVENT_BY_ACTION)) expect(EVENT_NAMES).toContain(name)
  })
})

describe('realtime events', () => {
  it.each(Object.entries({ CLIENT_EVENTS, SERVER_EVENTS }))(
    '%s are unique socket.io event names',
    (_, events) => {
      const names = Object.values(events)
      expect(names.length).toBe(new Set(names).size)
      for (const name of names) expect(name).toMatch(/^[a-z]+([:_][a-z]+)*$/)
    },
  )
})
