// The REST API v2 and the live event stream, as the pages use them.
import { useEffect, useState, useRef, useCallback } from 'preact/hooks';

/** GET `path` as JSON; throws an Error carrying `status` and `body` on failure. */
export async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await readBody(res);
  if (!res.ok) throw Object.assign(new Error(messageOf(body, res)), { status: res.status, body });
  return body;
}

/** A change (`POST`, `PUT`, `DELETE`...): resolves to `{ ok, status, body }`, never throws on HTTP errors. */
export async function send(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  return { ok: res.ok, status: res.status, body: await readBody(res) };
}

async function readBody(res) {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

export function messageOf(body, res) {
  if (body && typeof body === 'object' && body.message) return body.message;
  if (typeof body === 'string' && body) return body;
  return res ? `HTTP ${res.status}` : 'failed';
}

/** `/v2/apps/<id>` for an app id such as `/group/app`. */
export function appPath(id) {
  return `/v2/apps${id.split('/').map(encodeURIComponent).join('/')}`;
}

// ---- the event stream --------------------------------------------------------------------------

const listeners = new Set();
let source = null;
let connected = false;
let pending = null;
const connectionListeners = new Set();

// Every event of interest, by type (SSE frames carry `event: <type>`).
const EVENT_TYPES = [
  'status_update_event', 'instance_changed_event', 'instance_health_changed_event',
  'health_status_changed_event', 'failed_health_check_event', 'unhealthy_instance_kill_event',
  'api_post_event', 'group_change_success', 'group_change_failed', 'deployment_info',
  'deployment_step_success', 'deployment_step_failure', 'deployment_success', 'deployment_failed',
  'app_terminated_event', 'add_health_check_event', 'remove_health_check_event',
  'scheduler_registered_event', 'scheduler_reregistered_event', 'scheduler_disconnected_event',
  'unknown_instance_terminated_event',
];

/** Opens `/v2/events` once; listeners hear of changes at most every 250 ms. */
function ensureStream() {
  if (source) return;
  source = new EventSource('/v2/events');
  source.onopen = () => setConnected(true);
  source.onerror = () => setConnected(false);
  const onEvent = (e) => {
    let data = null;
    try { data = JSON.parse(e.data); } catch { /* not JSON: still a change */ }
    window.__marathonEvents = (window.__marathonEvents || 0) + 1;
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      for (const l of [...listeners]) l(data);
    }, 250);
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
  source.onmessage = onEvent;
}

function setConnected(value) {
  if (connected === value) return;
  connected = value;
  for (const l of [...connectionListeners]) l(value);
  // Whatever happened while the stream was down is read again.
  if (value) for (const l of [...listeners]) l(null);
}

/** Whether the event stream is connected. */
export function useStreamConnected() {
  const [value, set] = useState(connected);
  useEffect(() => {
    ensureStream();
    connectionListeners.add(set);
    set(connected);
    return () => connectionListeners.delete(set);
  }, []);
  return value;
}

/**
 * Data read by `load` (an async function), read again whenever the event stream reports a
 * change (unless `events` is false), every `interval` ms if given, and when `deps` change.
 * Returns `{ data, error, reload }`.
 */
export function useLive(load, deps = [], { interval, events = true } = {}) {
  const [state, setState] = useState({ data: undefined, error: null });
  const generation = useRef(0);
  const running = useRef(false);
  const again = useRef(false);
  const reload = useCallback(async () => {
    if (running.current) { again.current = true; return; }
    running.current = true;
    const mine = generation.current;
    try {
      do {
        again.current = false;
        try {
          const data = await load();
          if (mine === generation.current) setState({ data, error: null });
        } catch (error) {
          if (mine === generation.current) setState((s) => ({ data: s.data, error }));
        }
      } while (again.current && mine === generation.current);
    } finally {
      running.current = false;
    }
  }, deps);
  useEffect(() => {
    generation.current += 1;
    running.current = false;
    setState({ data: undefined, error: null });
    if (events) ensureStream();
    reload();
    if (events) listeners.add(reload);
    const timer = interval ? setInterval(reload, interval) : null;
    return () => {
      listeners.delete(reload);
      if (timer) clearInterval(timer);
    };
  }, [reload]);
  return { ...state, reload };
}
