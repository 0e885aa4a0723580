import { useEffect, useRef } from 'react';
import { checkReachable } from './client.js';
import { reportReachable } from './connection.js';
import type { AdminEvent, AdminEventType } from './contract.js';

/**
 * One shared EventSource on `/api/events` for the whole app. The server sends every event as a default SSE
 * message whose JSON `type` tells them apart. The browser reconnects by itself after a drop; there is no
 * replay, so subscribers also get a `reconnected` call to refetch what they show.
 */
type Handler = (event: AdminEvent) => void;

const handlers = new Set<{ types: ReadonlySet<string> | null; handler: Handler }>();
const liveListeners = new Set<(live: boolean) => void>();
const reconnectListeners = new Set<() => void>();
let source: EventSource | undefined;
let live = false;
let everOpened = false;

function setLive(value: boolean): void {
  if (live === value) return;
  live = value;
  for (const listener of liveListeners) listener(value);
}

function ensureSource(): void {
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource('/api/events', { withCredentials: true });
  source.onopen = () => {
    reportReachable();
    setLive(true);
    if (everOpened) for (const listener of reconnectListeners) listener();
    everOpened = true;
  };
  // The stream drops when Berth stops, before any page asks for anything: find out whether Berth is gone or only
  // the stream is, so the shell's notice appears on an idle page too. The browser retries every few seconds.
  source.onerror = () => {
    setLive(false);
    void checkReachable();
  };
  source.onmessage = (message: MessageEvent<string>) => {
    let event: AdminEvent;
    try {
      event = JSON.parse(message.data) as AdminEvent;
    } catch {
      return;
    }
    for (const entry of handlers) if (!entry.types || entry.types.has(event.type)) entry.handler(event);
  };
}

/** Stops the stream, e.g. when the session ends (the browser would otherwise keep retrying with a 401). */
export function closeEvents(): void {
  source?.close();
  source = undefined;
  everOpened = false;
  setLive(false);
}

export function onLiveChange(listener: (live: boolean) => void): () => void {
  ensureSource();
  liveListeners.add(listener);
  listener(live);
  return () => liveListeners.delete(listener);
}

/**
 * Calls `handler` for events of `types` (all events when empty) while the component is mounted, and
 * `onReconnect` after the stream comes back from a drop. Handlers may change between renders.
 */
export function useEvents(types: readonly AdminEventType[], handler: Handler, onReconnect?: () => void): void {
  const handlerRef = useRef(handler);
  const reconnectRef = useRef(onReconnect);
  handlerRef.current = handler;
  reconnectRef.current = onReconnect;
  const key = types.join(',');
  useEffect(() => {
    ensureSource();
    const entry = { types: key ? new Set(key.split(',')) : null, handler: (event: AdminEvent) => handlerRef.current(event) };
    const reconnect = () => reconnectRef.current?.();
    handlers.add(entry);
    reconnectListeners.add(reconnect);
    return () => {
      handlers.delete(entry);
      reconnectListeners.delete(reconnect);
    };
  }, [key]);
}
