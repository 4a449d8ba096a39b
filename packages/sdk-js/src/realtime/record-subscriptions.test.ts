import type { Socket } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import { RecordSubscriptions } from './record-subscriptions.ts'

/** A socket that accepts every subscription as `s1`: enough to drive deliveries by hand. */
function subscribed() {
  const socket = {
    connected: true,
    timeout: () => ({
      emit: (_event: string, _payload: unknown, ack: (err: Error | null, r: unknown) => void) =>
        ack(null, { ok: true, subscriptionId: 's1' }),
    }),
    emit() {},
  } as unknown as Socket
  const subs = new RecordSubscriptions({
    socket: () => socket,
    epoch: () => 1,
    report: () => {},
    idle: () => {},
    recycle: () => {},
  })
  const got: string[] = []
  const sub = subs.add(
    { collection: 'items' },
    (c) => {
      const r = (c as { record?: { id: string; version: number } }).record
      got.push(r ? `${c.action}:${r.id}@${r.version}` : c.action)
    },
    {},
  )
  subs.subscribeNow(sub)
  let seq = 0
  const deliver = (action: string, id: string, version: number) =>
    subs.onChange({ subscriptionId: 's1', action, seq: ++seq, record: { id, version } })
  return { got, deliver }
}

describe('record subscriptions: per-record order', () => {
  it('drops a late, older update of a record that arrives after a newer one (from another node)', () => {
    const { got, deliver } = subscribed()
    deliver('create', 'a', 1)
    deliver('update', 'a', 3)
    deliver('update', 'a', 2) // made before version 3, relayed later through Redis
    deliver('update', 'b', 1)
    expect(got).toEqual(['create:a@1', 'update:a@3', 'update:b@1'])
  })

  it('drops replayed duplicates and anything of a record after its delete', () => {
    const { got, deliver } = subscribed()
    deliver('create', 'a', 1)
    deliver('create', 'a', 1) // replayed after a reconnection
    deliver('delete', 'a', 2)
    deliver('update', 'a', 2) // late
    deliver('delete', 'a', 2) // replayed
    expect(got).toEqual(['create:a@1', 'delete:a@2'])
  })

  it('delivers a delete that overtook the last update, and the update never after it', () => {
    const { got, deliver } = subscribed()
    deliver('create', 'a', 1)
    deliver('delete', 'a', 3)
    deliver('update', 'a', 2)
    expect(got).toEqual(['create:a@1', 'delete:a@3'])
  })
})
