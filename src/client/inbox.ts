/**
 * The hand-over point between the network and the application: events wait here until a consumer
 * is attached, then go to every consumer in arrival order, one at a time (the next waits until the
 * handlers of this one returned or their promises resolved). `enqueue` resolves when the event has
 * been handled, which is what the caller waits for before acknowledging anything to the server.
 */
export type Handler<E> = (event: E) => void | Promise<void>;

interface Item<E> {
  event: E;
  handled: () => void;
  failed: (err: unknown) => void;
}

export class Inbox<E> {
  private readonly items: Item<E>[] = [];
  private readonly consumers = new Set<Handler<E>>();
  private dispatching = false;

  /** `onHandlerError` hears of a handler that threw (the event's enqueue promise rejects too). */
  constructor(private readonly onHandlerError: (err: unknown) => void = () => undefined) {}

  /** Adds a consumer; returns its unsubscribe. Dispatch starts on the next microtask, never inside this call. */
  consume(handler: Handler<E>): () => void {
    this.consumers.add(handler);
    queueMicrotask(() => void this.dispatch());
    return () => void this.consumers.delete(handler);
  }

  get hasConsumers(): boolean {
    return this.consumers.size > 0;
  }

  /** The events not yet handed over. */
  waiting(): E[] {
    return this.items.map((i) => i.event);
  }

  /** Queues an event; resolves once every consumer has handled it, rejects if one threw. */
  enqueue(event: E): Promise<void> {
    return new Promise<void>((handled, failed) => {
      this.items.push({ event, handled, failed });
      void this.dispatch();
    });
  }

  private async dispatch(): Promise<void> {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.items.length > 0 && this.consumers.size > 0) {
        const item = this.items.shift() as Item<E>;
        try {
          for (const handler of [...this.consumers]) await handler(item.event);
          item.handled();
        } catch (err) {
          this.onHandlerError(err);
          item.failed(err);
        }
      }
    } finally {
      this.dispatching = false;
    }
  }
}
