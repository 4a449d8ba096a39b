import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { BroadcastOperator, Server, Socket } from 'socket.io'
import { z } from 'zod'
import type { Principal } from '../core/auth/principal.ts'
import { createChannelDefinitions } from '../core/channels/channel-definitions.ts'
import {
  CHANNEL_NAME,
  type ChannelAction,
  type ChannelDefinition,
  KEY_SCOPES,
  LIMITS,
} from '../core/channels/channel-schema.ts'
import type { Collection } from '../core/collections/types.ts'
import { bypassesRules } from '../core/rules/authorize.ts'
import type { Db } from '../db/create-db.ts'
import type { Job } from '../modules/scheduler.ts'
import { memoryPresence, type PresenceEntry, type Push, redisPresence } from './presence.ts'

/**
 * Channels on the realtime connections: `join`/`leave`, `broadcast` between members and `presence:track`.
 * Definitions and their rules live in core/channels, presence in presence.ts; this is the socket.io side.
 */

export interface ChannelsDeps {
  /** The socket.io server, its adapter (Redis or in-memory) installed. */
  readonly io: Server
  readonly db: Db
  /** Collections, for `@collection.<x>` in channel rules. */
  readonly lookup: (name: string) => Collection | undefined
  /** A normal (non-subscriber) client; without it presence stays in this process. */
  readonly redis?: { readonly client: Redis; readonly prefix: string }
  /** Unique per process. */
  readonly nodeId: string
  readonly log: Logger
}

export interface Channels {
  /** Registers join/leave/broadcast/presence:track on a connected socket; `principal()` is its current one. */
  attach(socket: Socket, principal: () => Principal): void
  /** Presence's periodic work, for the scheduler (see presence.ts). */
  readonly jobs: readonly Job[]
  /** Removes this node's presence entries (members elsewhere get the leaves). */
  close(): Promise<void>
}

interface Membership {
  readonly def: ChannelDefinition | undefined
  readonly presence: boolean
  tracked: boolean
  /** The send rule's answer, kept once it allowed (shared by concurrent broadcasts, which keeps their order). */
  send?: Promise<boolean> | undefined
}

type Ack = (r: unknown) => void
type AckError = { ok: false; error: { code: string; message: string } }
const fail = (code: string, message: string): AckError => ({ ok: false, error: { code, message } })

/** A key outside the scope `action` needs is refused before anything else is looked at (see authorize). */
function keyRefusal(p: Principal, action: ChannelAction): AckError | undefined {
  try {
    bypassesRules(p, KEY_SCOPES[action])
    return undefined
  } catch (err) {
    return fail('FORBIDDEN', (err as Error).message)
  }
}

const channelField = z.string().regex(CHANNEL_NAME, 'A channel name: letters, digits and :_./-, up to 200.')
const joinInput = z.object({ channel: channelField })
const broadcastInput = z.object({
  channel: channelField,
  event: z.string().min(1).max(LIMITS.eventLength),
  payload: z.unknown().optional(),
})
const trackInput = z.object({ channel: channelField, state: z.unknown().optional() })

const room = (channel: string) => `ch:${channel}`
const jsonLength = (v: unknown) => {
  try {
    return JSON.stringify(v ?? null).length
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

export async function createChannels(deps: ChannelsDeps): Promise<Channels> {
  const { io, log, redis } = deps
  const definitions = createChannelDefinitions(deps)
  let closed = false

  /**
   * While Redis is away the adapter's publish fails with nobody to catch it (an unhandled rejection, which
   * main.ts treats as fatal): emit to this node's members only until it is back (members elsewhere miss what
   * was said meanwhile). The test is ioredis's own for "writable", so a publish is only tried when it would
   * be written.
   */
  const redisWritable = () => {
    const c = redis?.client
    if (!c) return true
    const stream = c.stream as (typeof c.stream & { _writableState?: { ended?: boolean } }) | undefined
    return c.status === 'ready' && !!stream?.writable && !stream._writableState?.ended
  }
  const reach = <T extends BroadcastOperator<any, any>>(op: T): T => (redisWritable() ? op : (op.local as T))

  const push: Push = (channel, joins, leaves) => {
    if (Object.keys(joins).length === 0 && Object.keys(leaves).length === 0) return
    reach(io.to(room(channel))).emit('presence', { channel, joins, leaves })
  }
  const presence = redis ? redisPresence(redis, deps.nodeId, push, log) : memoryPresence(push)

  const parse = <T>(schema: z.ZodType<T>, payload: unknown, reply: Ack): T | undefined => {
    const r = schema.safeParse(payload)
    if (r.success) return r.data
    const issue = r.error.issues[0]
    reply(
      fail('BAD_REQUEST', issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'Bad request.'),
    )
    return undefined
  }

  return {
    attach(socket, principal) {
      const joined = new Map<string, Membership>()
      const pending = new Set<string>()
      const userId = () => {
        const p = principal()
        return p.kind === 'user' ? p.id : null
      }

      async function leave(channel: string, m: Membership): Promise<void> {
        joined.delete(channel)
        void socket.leave(room(channel))
        if (!m.tracked) return
        m.tracked = false
        const e = await presence.untrack(channel, socket.id)
        if (e && !closed) push(channel, {}, { [socket.id]: e })
      }

      socket.on('join', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(joinInput, payload, reply)
        if (!v) return
        const { channel } = v
        const current = joined.get(channel)
        if (current) {
          reply(current.presence ? { ok: true, presence: await presence.list(channel) } : { ok: true })
          return
        }
        if (joined.size + pending.size >= LIMITS.channelsPerConnection) {
          reply(fail('LIMIT', `At most ${LIMITS.channelsPerConnection} channels per connection.`))
          return
        }
        if (pending.has(channel)) {
          reply(fail('CONFLICT', 'A join of this channel is already under way.'))
          return
        }
        const refused = keyRefusal(principal(), 'join')
        if (refused) {
          reply(refused)
          return
        }
        pending.add(channel)
        let def: ChannelDefinition | undefined
        let allowed: boolean
        try {
          def = await definitions.match(channel)
          allowed = await definitions.allows(def, 'join', channel, principal())
        } catch (err) {
          log.warn({ err, channel }, 'realtime: join check failed')
          reply(fail('UNAVAILABLE', 'The channel could not be checked; retry shortly.'))
          return
        } finally {
          pending.delete(channel)
        }
        if (!socket.connected) return
        if (!allowed) {
          reply(fail('FORBIDDEN', 'You are not allowed to join this channel.'))
          return
        }
        const m: Membership = { def, presence: def?.presence ?? true, tracked: false }
        joined.set(channel, m)
        void socket.join(room(channel))
        // The full state on join, in the ack and as a first `presence` event carrying `state` (API.md's
        // shape); what changes afterwards comes as `presence` diffs without it (sending every member to every
        // member on each change would cost n² per channel).
        if (!m.presence) {
          reply({ ok: true })
          return
        }
        const state = await presence.list(channel)
        reply({ ok: true, presence: state })
        socket.emit('presence', { channel, joins: {}, leaves: {}, state })
      })

      socket.on('leave', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(joinInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        // Leaving a channel one is not in is not an error: the outcome is the same.
        if (m) await leave(v.channel, m)
        reply({ ok: true })
      })

      socket.on('broadcast', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(broadcastInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        if (!m) {
          reply(fail('FORBIDDEN', 'Join the channel first.'))
          return
        }
        if (jsonLength(v.payload) > LIMITS.payloadBytes) {
          reply(fail('PAYLOAD_TOO_LARGE', `The payload exceeds ${LIMITS.payloadBytes} bytes of JSON.`))
          return
        }
        const refused = keyRefusal(principal(), 'send')
        if (refused) {
          reply(refused)
          return
        }
        m.send ??= definitions.allows(m.def, 'send', v.channel, principal())
        let ok: boolean
        try {
          ok = await m.send
        } catch (err) {
          m.send = undefined
          log.warn({ err, channel: v.channel }, 'realtime: send check failed')
          reply(fail('UNAVAILABLE', 'The channel could not be checked; retry shortly.'))
          return
        }
        if (!ok) {
          // Only an allowed answer is kept: a membership row may appear later.
          m.send = undefined
          reply(fail('FORBIDDEN', 'You are not allowed to send on this channel.'))
          return
        }
        if (!socket.connected || joined.get(v.channel) !== m) return
        reach(socket.to(room(v.channel))).emit('broadcast', {
          channel: v.channel,
          event: v.event,
          payload: v.payload ?? null,
          from: { id: userId(), connection: socket.id },
        })
        reply({ ok: true })
      })

      socket.on('presence:track', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(trackInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        if (!m) {
          reply(fail('FORBIDDEN', 'Join the channel first.'))
          return
        }
        if (!m.presence) {
          reply(fail('BAD_REQUEST', 'This channel keeps no presence.'))
          return
        }
        const refused = keyRefusal(principal(), 'track')
        if (refused) {
          reply(refused)
          return
        }
        const state = v.state ?? {}
        if (jsonLength(state) > LIMITS.stateBytes) {
          reply(fail('PAYLOAD_TOO_LARGE', `The state exceeds ${LIMITS.stateBytes} bytes of JSON.`))
          return
        }
        const entry: PresenceEntry = { user: userId(), state }
        m.tracked = true
        await presence.track(v.channel, socket.id, entry)
        // Gone meanwhile: its leave is on its way, a join now would outlive it.
        if (!socket.connected || joined.get(v.channel) !== m || !m.tracked) return
        push(v.channel, { [socket.id]: entry }, {})
        reply({ ok: true })
      })

      socket.on('disconnect', () => {
        for (const [channel, m] of [...joined]) {
          void leave(channel, m).catch((err) => log.warn({ err, channel }, 'realtime: leave failed'))
        }
      })
    },

    jobs: presence.jobs,
    async close() {
      if (closed) return
      closed = true
      await presence.close()
    },
  }
}
