// Shared pieces: instance bars, status badges, confirmation dialogs, error notices.
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtCpus, fmtMem } from './format.js';

/** Running / healthy / staged instances of an app, as parts of one bar. */
export function InstanceBar({ app }) {
  const total = Math.max(app.instances || 0, (app.tasksRunning || 0) + (app.tasksStaged || 0), 1);
  const healthy = app.tasksHealthy || 0;
  const unhealthy = app.tasksUnhealthy || 0;
  const running = Math.max(0, (app.tasksRunning || 0) - healthy - unhealthy);
  const staged = app.tasksStaged || 0;
  const pct = (n) => `${(100 * n) / total}%`;
  return (
    <div class="bar-cell">
      <div class="bar" title={`${healthy} healthy, ${running} running (no health information), ${unhealthy} unhealthy, ${staged} staged of ${app.instances}`}>
        <span class="bar-healthy" style={{ width: pct(healthy) }} />
        <span class="bar-running" style={{ width: pct(running) }} />
        <span class="bar-unhealthy" style={{ width: pct(unhealthy) }} />
        <span class="bar-staged" style={{ width: pct(staged) }} />
      </div>
      <span class="bar-text" data-testid="instances">{app.tasksRunning || 0} / {app.instances}</span>
    </div>
  );
}

/** A used/total resource bar. */
export function ResourceBar({ used, total, format }) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return (
    <div class="bar-cell">
      <div class="bar" title={`${format(used)} of ${format(total)} used`}>
        <span class="bar-healthy" style={{ width: `${pct}%` }} />
      </div>
      <span class="bar-text">{format(used)} / {format(total)}</span>
    </div>
  );
}

export function StatusBadge({ status }) {
  return <span class={`status status-${status}`} data-testid="status">{status}</span>;
}

export function ErrorNotice({ error }) {
  if (!error) return null;
  return <div class="notice error" role="alert">{error.message || String(error)}</div>;
}

/**
 * A modal dialog asking for confirmation. `children` is its body; `onConfirm` may return a
 * promise of an error message (shown in the dialog) or nothing (the dialog closes).
 */
export function Confirm({ title, confirmLabel = 'Confirm', danger, onConfirm, onClose, children }) {
  const ref = useRef(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const confirm = async (e) => {
    e.preventDefault();
    setBusy(true);
    const error = await onConfirm();
    setBusy(false);
    if (error) setMessage(error);
    else onClose();
  };
  return (
    <dialog ref={ref} class="confirm" onClose={onClose} onCancel={onClose}>
      <form method="dialog" onSubmit={confirm}>
        <h3>{title}</h3>
        <div class="confirm-body">{children}</div>
        {message && <div class="notice error" role="alert">{message}</div>}
        <div class="buttons">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class={danger ? 'danger' : 'primary'} disabled={busy}>{confirmLabel}</button>
        </div>
      </form>
    </dialog>
  );
}

/** Message of a failed change's answer (`{ ok, status, body }`). */
export function failure(result) {
  if (result.ok) return null;
  const body = result.body;
  if (body && typeof body === 'object') {
    let text = body.message || `HTTP ${result.status}`;
    if (Array.isArray(body.details)) {
      text += ': ' + body.details.map((d) => `${d.path} ${(d.errors || []).join(', ')}`).join('; ');
    }
    if (Array.isArray(body.deployments) && body.deployments.length) {
      text += ` (${body.deployments.map((d) => d.id).join(', ')})`;
    }
    return text;
  }
  return typeof body === 'string' && body ? body : `HTTP ${result.status}`;
}

// The master's frameworks as a table (the Marathon UI's cluster page and the master's own UI).
export function FrameworksTable({ frameworks, testid }) {
  return (
    <table class="list" data-testid={testid}>
      <thead><tr><th>Framework</th><th>Host</th><th>State</th><th class="num">Tasks</th><th class="num">CPU</th><th class="num">Memory</th></tr></thead>
      <tbody>
        {frameworks.map((f) => (
          <tr key={f.id} data-testid="framework-row">
            <td><div>{f.name}</div><div class="muted small">{f.id}</div></td>
            <td>{f.hostname}</td>
            <td>{f.active ? 'active' : 'inactive'}</td>
            <td class="num">{(f.tasks || []).length}</td>
            <td class="num">{fmtCpus((f.used_resources || {}).cpus)}</td>
            <td class="num">{fmtMem((f.used_resources || {}).mem)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
