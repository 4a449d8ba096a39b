import type { PushPreferences } from '@bastide/protocol'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import { topicName } from './topics.ts'

/** PUT /api/push/preferences: the whole map (topic → enabled); a topic need not exist (a message's own `topic`). */
export const pushPreferencesInput = z
  .object({
    topics: z
      .record(topicName, z.boolean())
      .refine((m) => Object.keys(m).length <= 200, 'At most 200 topics.')
      .describe('topic → false opts out of it; a topic left out is enabled.'),
  })
  .strict()

/**
 * The PUT body, validated: topicName refuses `__proto__`, `constructor` and `prototype`, but zod never hands a
 * record validator the key `__proto__` (it would set the prototype), so that one is refused here, before.
 */
export function parsePreferences(body: unknown): PushPreferences {
  const topics = (body as { topics?: unknown } | null)?.topics
  if (topics !== null && typeof topics === 'object' && Object.hasOwn(topics, '__proto__'))
    throw errors.validation({
      'topics.__proto__': { code: 'invalid_key', message: 'This name is reserved (__proto__).' },
    })
  return parseInput(pushPreferencesInput, body)
}

export interface PushPreferencesService {
  get(userId: string): Promise<PushPreferences>
  /** Replaces the user's whole map. */
  put(userId: string, prefs: PushPreferences): Promise<PushPreferences>
}

/** Users' per-topic opt-outs (and explicit opt-ins), which the fan-out reads to skip a user's devices. */
export function createPushPreferences(deps: { readonly db: Db }): PushPreferencesService {
  const { db } = deps
  async function get(userId: string): Promise<PushPreferences> {
    const rs = await db
      .selectFrom('bastide.push_preferences')
      .select(['topic', 'enabled'])
      .where('user_id', '=', userId)
      .orderBy('topic')
      .execute()
    return { topics: Object.fromEntries(rs.map((r) => [r.topic as string, r.enabled as boolean])) }
  }
  return {
    get,
    async put(userId, prefs) {
      const entries = Object.entries(prefs.topics)
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('bastide.push_preferences').where('user_id', '=', userId).execute()
        if (entries.length > 0)
          await trx
            .insertInto('bastide.push_preferences')
            .values(entries.map(([topic, enabled]) => ({ user_id: userId, topic, enabled })))
            .execute()
      })
      return get(userId)
    },
  }
}
