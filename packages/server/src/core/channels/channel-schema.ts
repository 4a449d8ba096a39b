import type { Scope } from '../auth/principal.ts'
import type { Collection, Field } from '../collections/types.ts'

/**
 * Channels: named rooms on the realtime connections, with `join`/`leave`, `broadcast` between members and
 * presence. Who may join and send comes from bastide.channels (the most specific pattern wins; no pattern:
 * locked). This file holds what they are; channel-definitions.ts keeps the definitions, realtime/ the rooms.
 */

export const CHANNEL_NAME = /^[A-Za-z0-9:_./-]{1,200}$/
export const CHANNEL_PATTERN = /^[A-Za-z0-9:_./-]{1,200}\*?$/

export const LIMITS = {
  channelsPerConnection: 50,
  eventLength: 100,
  payloadBytes: 64 * 1024,
  stateBytes: 4 * 1024,
} as const

/**
 * What an API key needs on channels. Channels carry app data the way records do, and a key reaches them as
 * it reaches records: within its records scopes it bypasses the rules, outside them it is refused. Listening
 * (join, then broadcasts and presence) reads; broadcasting and publishing a presence state write.
 */
export const KEY_SCOPES = {
  join: 'records:read',
  send: 'records:write',
  track: 'records:write',
} as const satisfies Record<string, Scope>

export type ChannelAction = keyof typeof KEY_SCOPES

/**
 * `null`: locked (admins and API keys with the scope only); `''`: everyone; otherwise a rule over name, param,
 * @request.
 */
export interface ChannelRules {
  readonly join: string | null
  readonly send: string | null
}

export interface ChannelDefinition {
  readonly id: string
  readonly pattern: string
  readonly rules: ChannelRules
  /** Presence is kept for the channel (join acks carry the state; presence:track is accepted). */
  readonly presence: boolean
  readonly created: string
  readonly updated: string
}

const text = (name: string): Field => ({
  id: `channel_${name}`,
  name,
  type: 'text',
  required: false,
  unique: false,
  hidden: false,
  options: {},
  system: true,
})

/**
 * What a channel rule sees, as a collection, so that channel rules are the same language compiled by the same
 * code as collection rules: `name` (the channel) and `param` (the part a `*` matched; '' for an exact name).
 */
export const CHANNEL_SCHEMA: Collection = Object.freeze({
  id: '00000000-0000-7000-8000-0000000c4a11',
  name: '_channels',
  fields: Object.freeze([text('name'), text('param')]),
  indexes: [],
  rules: { list: null, view: null, create: null, update: null, delete: null },
  system: true,
  created: '1970-01-01T00:00:00.000Z',
  updated: '1970-01-01T00:00:00.000Z',
}) as Collection
