import type { EventListener, KilnEvent } from './events.js';

/** Fan-out of events to the renderers the CLI attached. Listeners must not throw. */
export class EventBus {
  private readonly listeners: EventListener[] = [];

  on(listener: EventListener): void {
    this.listeners.push(listener);
  }

  emit(event: KilnEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** A bus with no listeners, for library callers and tests that do not watch progress. */
export function silentBus(): EventBus {
  return new EventBus();
}
