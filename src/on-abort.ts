/**
 * Runs `handler` when `signal` aborts, and at once when it has already aborted: a listener added
 * to an aborted signal is never called, and a cancel that came while a step was still being set
 * up would otherwise leave that step running. Returns the function that removes the listener.
 */
export function onAbort(signal: AbortSignal | undefined, handler: () => void): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    handler();
    return () => {};
  }
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}
