/**
 * The last `capacity` items pushed, oldest first: a push past capacity overwrites the oldest in place and hands
 * it back, instead of shifting every other item down (what `array.splice(0, 1)` costs on a full window).
 */
export class RingBuffer<T extends {} | null> {
  readonly #items: T[] = []
  /** Index of the oldest item once the buffer is full (before that, items[0] is the oldest). */
  #head = 0
  readonly #capacity: number

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError(`RingBuffer: bad capacity ${capacity}`)
    this.#capacity = capacity
  }

  get length(): number {
    return this.#items.length
  }

  /**
   * Appends `item`; returns the item that fell out (the oldest; `item` itself at capacity 0) when the buffer was
   * full, else undefined. (For items that are never undefined themselves.)
   */
  push(item: T): T | undefined {
    if (this.#capacity === 0) return item
    if (this.#items.length < this.#capacity) {
      this.#items.push(item)
      return undefined
    }
    const dropped = this.#items[this.#head]!
    this.#items[this.#head] = item
    this.#head = this.#head + 1 === this.#capacity ? 0 : this.#head + 1
    return dropped
  }

  /** The first item, oldest first, that satisfies `pred`. */
  find(pred: (item: T) => boolean): T | undefined {
    const items = this.#items
    const n = items.length
    for (let i = 0, j = this.#head; i < n; i++, j = j + 1 === n ? 0 : j + 1) {
      const item = items[j]!
      if (pred(item)) return item
    }
    return undefined
  }

  /** Every item that satisfies `pred`, oldest first. */
  filter(pred: (item: T) => boolean): T[] {
    const out: T[] = []
    const items = this.#items
    const n = items.length
    for (let i = 0, j = this.#head; i < n; i++, j = j + 1 === n ? 0 : j + 1) {
      const item = items[j]!
      if (pred(item)) out.push(item)
    }
    return out
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    const items = this.#items
    const n = items.length
    for (let i = 0, j = this.#head; i < n; i++, j = j + 1 === n ? 0 : j + 1) yield items[j]!
  }
}
