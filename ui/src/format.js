// Small formatting helpers shared by the pages.

export function fmtMem(mb) {
  if (mb == null) return '–';
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)} GiB`;
  return `${Math.round(mb * 10) / 10} MiB`;
}

export function fmtCpus(cpus) {
  if (cpus == null) return '–';
  return `${Math.round(cpus * 1000) / 1000}`;
}

/** "3m 2s" since an ISO timestamp. */
export function age(iso, now = Date.now()) {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '–';
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** The app's status as the UI shows it: deploying, suspended, delayed, waiting or running. */
export function appStatus(app, queueEntry) {
  if (app.deployments && app.deployments.length > 0) return 'deploying';
  if (app.instances === 0 && (app.tasksRunning || 0) === 0) return 'suspended';
  if (queueEntry && queueEntry.delay && queueEntry.delay.overdue === false && queueEntry.delay.timeLeftSeconds > 0) return 'delayed';
  if (queueEntry && queueEntry.count > 0) return 'waiting';
  return 'running';
}

export const STATUSES = ['running', 'deploying', 'suspended', 'waiting', 'delayed'];

/** The queue entries by app id. */
export function queueByApp(queue) {
  const byApp = new Map();
  for (const entry of (queue && queue.queue) || []) {
    const id = entry.app ? entry.app.id : entry.pod && entry.pod.id;
    if (id) byApp.set(id, entry);
  }
  return byApp;
}

/** The parent group of an id (`/a/b/c` -> `/a/b`, `/a` -> `/`). */
export function parentOf(id) {
  const i = id.lastIndexOf('/');
  return i <= 0 ? '/' : id.slice(0, i);
}

export function baseName(id) {
  return id.slice(id.lastIndexOf('/') + 1);
}

/** UI path of an app or a group. */
export function appHref(id, tab) {
  return `/ui/apps${id}${tab ? `?tab=${tab}` : ''}`;
}

export function groupHref(id) {
  return id === '/' ? '/ui/' : `/ui/groups${id}`;
}
