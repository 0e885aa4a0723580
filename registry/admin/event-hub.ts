import { EventEmitter } from 'node:events';
import type { RegistryEventMap, RegistryEvents } from '../events.js';
import type { AdminEvent, MirrorControl, MirrorEvent } from './contract.js';

/** An AdminEvent without its time: the hub stamps it. */
export type AdminEventInput = AdminEvent extends infer E ? (E extends AdminEvent ? Omit<E, 'time'> : never) : never;

/**
 * The live feed of `/api/events`: registry content changes, mirror jobs and health, and the admin API's own
 * changes (tokens, namespaces, ...). It listens to the registry and the mirror only while someone is subscribed,
 * so an admin API nobody watches costs nothing and leaves no listeners behind.
 */
export interface AdminEventHub {
  publish(event: AdminEventInput): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: AdminEvent) => void): () => void;
  readonly subscribers: number;
}

type Upstream = { [K in keyof RegistryEventMap]: (...args: RegistryEventMap[K]) => void };

/** `registryEvents` is read when the first subscriber arrives (the registry may not exist yet when the hub is made). */
export function createAdminEventHub(registryEvents: () => RegistryEvents, mirror?: MirrorControl): AdminEventHub {
  const emitter = new EventEmitter<{ event: [AdminEvent] }>();
  // Every open GUI tab is a listener; the default limit of 10 would warn about a leak that is not one.
  emitter.setMaxListeners(0);
  let detach: (() => void) | undefined;

  const stamp = (event: AdminEventInput): AdminEvent => ({ ...event, time: new Date().toISOString() }) as AdminEvent;
  const publish = (event: AdminEventInput) => emitter.emit('event', stamp(event));

  function attach(): () => void {
    const handlers: Partial<Upstream> = {
      'manifest.pushed': (e) =>
        publish({
          type: 'manifest.pushed',
          repository: e.repository,
          reference: e.reference,
          digest: e.digest,
          mediaType: e.mediaType,
          actor: e.actor,
        }),
      'manifest.deleted': (e) => publish({ type: 'manifest.deleted', repository: e.repository, digest: e.digest, actor: e.actor }),
      'tag.deleted': (e) => publish({ type: 'tag.deleted', repository: e.repository, tag: e.tag, actor: e.actor }),
      'blob.deleted': (e) => publish({ type: 'blob.deleted', repository: e.repository, digest: e.digest, actor: e.actor }),
    };
    const names = Object.keys(handlers) as Array<keyof RegistryEventMap>;
    const events = registryEvents();
    for (const name of names) events.on(name, handlers[name] as never);
    const stopMirror = mirror?.subscribe?.((event: MirrorEvent) => publish(event));
    return () => {
      for (const name of names) events.off(name, handlers[name] as never);
      stopMirror?.();
    };
  }

  return {
    publish,
    subscribe(listener) {
      emitter.on('event', listener);
      detach ??= attach();
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        emitter.off('event', listener);
        if (emitter.listenerCount('event') === 0) {
          detach?.();
          detach = undefined;
        }
      };
    },
    get subscribers() {
      return emitter.listenerCount('event');
    },
  };
}
