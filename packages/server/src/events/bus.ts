import type { EventMap, EventName } from './catalog.ts'

type Handler<E extends EventName> = (payload: EventMap[E]) => void

/**
 * The in-process event bus. Emitted only after commit (see db/transaction.ts). A later transport
 * (Redis) subscribes here and republishes to other nodes; subscribers never see rolled-back work.
 */
export interface EventBus {
  on<E extends EventName>(event: E, handler: Handler<E>): () => void
  emit<E extends EventName>(event: E, payload: EventMap[E]): void
}

export function createEventBus(onHandlerError?: (err: unknown, event: EventName) => void): EventBus {
  const handlers = new Map<EventName, Set<Handler<any>>>()
  return {
    on(event, handler) {
      let set = handlers.get(event)
      if (!set) handlers.set(event, (set = new Set()))
      set.add(handler)
      return () => set.delete(handler)
    },
    emit(event, payload) {
      const set = handlers.get(event)
      if (!set) return
      for (const h of set) {
        try {
          h(payload)
        } catch (err) {
          onHandlerError?.(err, event)
        }
      }
    },
  }
}
