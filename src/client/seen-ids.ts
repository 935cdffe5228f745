/**
 * Remembers the message ids a client has already handled, so a message replayed after a
 * reconnect (or pushed twice around a catch-up switch) is shown once. Memory is bounded: the
 * oldest ids are forgotten first, and by then the server's cursor has moved past them.
 */
export class SeenIds {
  private readonly ids = new Set<number>();

  constructor(private readonly capacity = 10_000) {}

  /** True when `id` is new (and records it); false for a duplicate. */
  add(id: number): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // A Set iterates in insertion order, so the first entry is the oldest.
      const oldest = this.ids.values().next().value as number;
      this.ids.delete(oldest);
    }
    return true;
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
