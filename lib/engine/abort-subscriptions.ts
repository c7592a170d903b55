/**
 * Abort callbacks for many requests sharing one AbortSignal (e.g. one controller for a batch of
 * generations, or a server's shutdown signal): one 'abort' listener per signal, whatever the number
 * of requests, so Node never warns about a listener leak (its EventTarget limit is 10) and a signal
 * that outlives its requests keeps no reference to them.
 */
const subscribers = new WeakMap<AbortSignal, Set<() => void>>();

function dispatch(event: Event): void {
  const signal = event.target as AbortSignal;
  const set = subscribers.get(signal);
  subscribers.delete(signal);
  if (set) for (const fn of [...set]) fn();
}

/** Calls `fn` once when `signal` aborts (not if it already has); returns the unsubscribe function. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) return () => {};
  let set = subscribers.get(signal);
  if (!set) {
    set = new Set();
    subscribers.set(signal, set);
    signal.addEventListener('abort', dispatch, { once: true });
  }
  const entry = (): void => fn();  // distinct per call, so one fn may subscribe twice
  set.add(entry);
  return () => {
    const current = subscribers.get(signal);
    if (!current?.delete(entry) || current.size > 0) return;
    subscribers.delete(signal);
    signal.removeEventListener('abort', dispatch);
  };
}
