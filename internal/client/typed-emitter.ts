/** Listener of an event whose arguments are the tuple `A`. */
export type Listener<A extends unknown[]> = (...args: A) => void;

type AnyListener = (...args: unknown[]) => void;

/**
 * A small event emitter typed by an event map (`{ message: [m: ChatMessage]; close: [code: number] }`),
 * with the subset of Node's EventEmitter API the clients use: on/addListener, once, off/removeListener,
 * removeAllListeners, emit, listenerCount. It runs anywhere (no `node:events`). Listeners run
 * synchronously in the order they were added; one that throws stops the emit and the error reaches
 * the emitter's caller, as with Node's. Unlike Node's, an `error` event nobody listens to is dropped.
 */
export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly listeners = new Map<keyof E, AnyListener[]>();

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as unknown as AnyListener);
    this.listeners.set(event, list);
    return this;
  }

  addListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.on(event, listener);
  }

  /** Adds a listener that is removed before its first call. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapped = Object.assign((...args: E[K]) => {
      this.off(event, wrapped);
      listener(...args);
    }, { original: listener });
    return this.on(event, wrapped);
  }

  /** Removes the most recently added copy of `listener` (or of a `once` wrapping it). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i] as AnyListener & { original?: unknown };
      if (l === (listener as unknown) || l.original === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.listeners.delete(event);
    return this;
  }

  removeListener<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  /** Calls every listener of `event` with `args`; true when there was one. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const listener of [...list]) listener(...args);
    return true;
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}
