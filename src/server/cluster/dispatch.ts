/** Calls a bus handler so that a bug in it can never crash the process or stop the other handlers. */
import type { BusHandler, BusMessage } from './types.js';

let onHandlerError: (err: unknown) => void = () => undefined;

/** Where handler exceptions go (the cluster wiring logs them). */
export function setHandlerErrorSink(sink: (err: unknown) => void): void {
  onHandlerError = sink;
}

export function dispatch(handler: BusHandler, message: BusMessage): void {
  try {
    handler(message);
  } catch (err) {
    onHandlerError(err);
  }
}

/** Parses a bus payload; anything but a JSON object is dropped (null). */
export function parseBusMessage(text: string): BusMessage | null {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as BusMessage) : null;
  } catch {
    return null;
  }
}
