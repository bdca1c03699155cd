// One app: its tasks (with their logs), configuration, versions (diff, apply), debug
// information (last task failure, queue and why offers did not fit), and its actions.
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { getJSON, send, appPath, useLive } from './api.js';
import { appStatus, queueByApp, fmtCpus, fmtMem, age, parentOf, groupHref, appHref } from './format.js';
import { InstanceBar, StatusBadge, ErrorNotice, Confirm, failure } from './components.jsx';
import { TaskLogs } from './logs.jsx';
import { Versions } from './versions.jsx';
import { EditApp } from './create.jsx';

async function loadApp(id) {
  const [appBody, queue] = await Promise.all([
    getJSON(`${appPath(id)}?embed=app.taskStats&embed=app.readiness`),
    getJSON('/v2/queue'),
  ]);
  const app = appBody.app;
  const entry = queueByApp(queue).get(app.id) || null;
  return { app, queue: entry, status: appStatus(app, entry) };
}

let frameworkIdPromise = null;
function frameworkId() {
  if (!frameworkIdPromise) frameworkIdPromise = getJSON('/v2/info').then((i) => i.frameworkId).catch(() => { frameworkIdPromise = null; return null; });
  return frameworkIdPromise;
}

const TABS = ['tasks', 'configuration', 'versions', 'debug', 'edit'];

export function AppPage({ id }) {
  const { query, route } = useLocation();
  const tab = TABS.includes(query.tab) ? query.tab : 'tasks';
  const { data, error, reload } = useLive(() => loadApp(id), [id]);
  const [dialog, setDialog] = useState(null);

  if (error && error.status === 404 && !data) {
    return <section class="page"><div class="notice error">App {id} does not exist. <a href="/ui/">Back to the applications</a></div></section>;
  }
  const app = data && data.app;
  const act = async (method, path, body) => {
    const result = await send(method, path, body);
    reload();
    return failure(result);
  };
  return (
    <section class="page" data-testid="app-page">
      <div class="page-head">
        <nav class="crumbs">
          <a href="/ui/">Applications</a>
          {parentOf(id) !== '/' && <span> / <a href={groupHref(parentOf(id))}>{parentOf(id)}</a></span>}
          <span> / <strong>{id.slice(id.lastIndexOf('/') + 1)}</strong></span>
        </nav>
        {app && (
          <div class="actions">
            <button data-testid="scale" onClick={() => setDialog('scale')}>Scale</button>
            <button data-testid="restart" onClick={() => setDialog('restart')}>Restart</button>
            <button data-testid="suspend" onClick={() => setDialog('suspend')} disabled={app.instances === 0}>Suspend</button>
            <button data-testid="destroy" class="danger" onClick={() => setDialog('destroy')}>Destroy</button>
          </div>
        )}
      </div>
      <ErrorNotice error={error} />
      {app && (
        <div class="summary">
          <StatusBadge status={data.status} />
          <InstanceBar app={app} />
          <span>{fmtCpus(app.cpus)} CPU</span>
          <span>{fmtMem(app.mem)}</span>
          <span class="muted">version {app.version}</span>
          {app.deployments.length > 0 && <a href="/ui/deployments">{app.deployments.length} deployment(s) running</a>}
        </div>
      )}
      <div class="tabs">
        {TABS.map((t) => (
          <a key={t} href={appHref(id, t === 'tasks' ? null : t)} class={t === tab ? 'active' : ''} data-testid={`tab-${t}`}>{t}</a>
        ))}
      </div>
      {app && tab === 'tasks' && <Tasks app={app} reload={reload} />}
      {app && tab === 'configuration' && <pre class="json" data-testid="config">{JSON.stringify(definitionOf(app), null, 2)}</pre>}
      {app && tab === 'versions' && <Versions app={app} reload={reload} />}
      {app && tab === 'debug' && <Debug app={app} queue={data.queue} act={act} />}
      {app && tab === 'edit' && <EditApp app={definitionOf(app)} onDone={() => route(appHref(id))} />}
      {dialog === 'scale' && (
        <ScaleDialog app={app} onClose={() => setDialog(null)} act={act} />
      )}
      {dialog === 'restart' && (
        <Confirm title={`Restart ${id}?`} confirmLabel="Restart" onClose={() => setDialog(null)}
          onConfirm={() => act('POST', `${appPath(id)}/restart`)}>
          <p>All {app.instances} instances are replaced by new ones, following the upgrade strategy.</p>
        </Confirm>
      )}
      {dialog === 'suspend' && (
        <Confirm title={`Suspend ${id}?`} confirmLabel="Suspend" onClose={() => setDialog(null)}
          onConfirm={() => act('PUT', appPath(id), { instances: 0 })}>
          <p>The app is scaled to 0 instances; its definition stays.</p>
        </Confirm>
      )}
      {dialog === 'destroy' && (
        <Confirm title={`Destroy ${id}?`} confirmLabel="Destroy" danger onClose={() => setDialog(null)}
          onConfirm={async () => {
            const result = await send('DELETE', appPath(id));
            if (!result.ok) return failure(result);
            route(groupHref(parentOf(id)));
            return null;
          }}>
          <p>The app and all its tasks are removed. This cannot be undone.</p>
        </Confirm>
      )}
    </section>
  );
}

/** The definition part of an app's JSON (what PUT accepts). */
export function definitionOf(app) {
  const {
    tasks, tasksStaged, tasksRunning, tasksHealthy, tasksUnhealthy, deployments, lastTaskFailure,
    taskStats, readinessCheckResults, versionInfo, version, ...definition
  } = app;
  return definition;
}

function ScaleDialog({ app, onClose, act }) {
  const [instances, setInstances] = useState(String(app.instances));
  return (
    <Confirm title={`Scale ${app.id}`} confirmLabel="Scale" onClose={onClose}
      onConfirm={() => {
        const n = Number(instances);
        if (!Number.isInteger(n) || n < 0) return Promise.resolve('The number of instances must be a whole number, 0 or more');
        return act('PUT', appPath(app.id), { instances: n });
      }}>
      <label>Instances <input type="number" min="0" value={instances} data-testid="scale-instances"
        onInput={(e) => setInstances(e.currentTarget.value)} /></label>
    </Confirm>
  );
}

/** The time, ticking every `ms` (for ages). */
function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function health(task) {
  const results = task.healthCheckResults || [];
  if (!results.length) return 'unknown';
  return results.every((r) => r.alive) ? 'healthy' : 'unhealthy';
}

function Tasks({ app, reload }) {
  const [selected, setSelected] = useState(() => new Set());
  const [logsOf, setLogsOf] = useState(null);
  const [kill, setKill] = useState(null);
  const [fw, setFw] = useState(null);
  const tasks = [...(app.tasks || [])].sort((a, b) => a.id.localeCompare(b.id));
  const now = useNow(1000);
  const toggle = (id) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id); else next.add(id);
    setSelected(next);
  };
  const openLogs = async (task) => {
    setFw(await frameworkId());
    setLogsOf(task.id);
  };
  const logsTask = tasks.find((t) => t.id === logsOf);
  const ids = [...selected].filter((id) => tasks.some((t) => t.id === id));
  return (
    <div>
      <div class="toolbar">
        <span class="muted">{tasks.length} tasks</span>
        <button disabled={!ids.length} onClick={() => setKill('kill')} data-testid="kill">Kill</button>
        <button disabled={!ids.length} onClick={() => setKill('scale')} data-testid="kill-scale">Kill and scale</button>
        <button disabled={!ids.length} onClick={() => setKill('wipe')} data-testid="kill-wipe">Kill and wipe</button>
      </div>
      <table class="list" data-testid="tasks-table">
        <thead><tr><th /><th>Task</th><th>Host and ports</th><th>Health</th><th>State</th><th>Age</th><th>Version</th></tr></thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.id} data-testid="task-row" data-task-id={t.id} data-state={t.state} data-health={health(t)}>
              <td><input type="checkbox" checked={selected.has(t.id)} onChange={() => toggle(t.id)} aria-label={`select ${t.id}`} /></td>
              <td><button class="link" onClick={() => openLogs(t)} title="show its stdout and stderr" data-testid="task-logs-link">{t.id}</button></td>
              <td>
                {(t.ports && t.ports.length) ? t.ports.map((p) => (
                  <a key={p} href={`http://${t.host}:${p}`} target="_blank" rel="noreferrer" class="endpoint">{t.host}:{p}</a>
                )) : <span>{t.host}</span>}
              </td>
              <td><span class={`health health-${health(t)}`}>{health(t)}</span></td>
              <td>{(t.state || '').replace('TASK_', '').toLowerCase()}</td>
              <td>{age(t.startedAt || t.stagedAt, now)}</td>
              <td class="muted small">{t.version}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {logsTask && fw && <TaskLogs task={logsTask} frameworkId={fw} onClose={() => setLogsOf(null)} />}
      {kill && (
        <Confirm
          title={kill === 'kill' ? `Kill ${ids.length} task(s)?` : kill === 'scale' ? `Kill ${ids.length} task(s) and scale down?` : `Kill and wipe ${ids.length} task(s)?`}
          confirmLabel="Kill" danger onClose={() => setKill(null)}
          onConfirm={async () => {
            const q = kill === 'scale' ? '?scale=true' : kill === 'wipe' ? '?wipe=true' : '';
            const result = await send('POST', `/v2/tasks/delete${q}`, { ids });
            setSelected(new Set());
            reload();
            return failure(result);
          }}>
          <p>{kill === 'kill' ? 'They are replaced by new tasks.' : kill === 'scale' ? 'The app\'s instance count goes down by as many.' : 'Their instances are forgotten (with their reservations) and replaced.'}</p>
          <ul class="small">{ids.map((i) => <li key={i}>{i}</li>)}</ul>
        </Confirm>
      )}
    </div>
  );
}

function Debug({ app, queue, act }) {
  const failure = app.lastTaskFailure;
  const summary = queue && queue.processedOffersSummary;
  const [resetError, setResetError] = useState(null);
  const delayed = queue && queue.delay && !queue.delay.overdue && queue.delay.timeLeftSeconds > 0;
  return (
    <div class="debug" data-testid="debug">
      <h3>Last task failure</h3>
      {failure ? (
        <dl class="kv">
          <dt>Task</dt><dd data-testid="failed-task">{failure.taskId}</dd>
          <dt>State</dt><dd>{failure.state}</dd>
          <dt>Message</dt><dd>{failure.message || '–'}</dd>
          <dt>Host</dt><dd>{failure.host}</dd>
          <dt>When</dt><dd>{failure.timestamp}</dd>
          <dt>Version</dt><dd>{failure.version}</dd>
        </dl>
      ) : <p class="muted">None.</p>}
      <h3>Queue</h3>
      {queue ? (
        <div>
          <dl class="kv">
            <dt>Instances waiting</dt><dd>{queue.count}</dd>
            <dt>Waiting since</dt><dd>{queue.since}</dd>
            <dt>Launch delay</dt><dd data-testid="launch-delay">{queue.delay ? (queue.delay.overdue ? 'overdue (launching when an offer fits)' : `${queue.delay.timeLeftSeconds} s left`) : '–'}</dd>
          </dl>
          {delayed && <button data-testid="reset-delay" onClick={async () => setResetError(await act('DELETE', `/v2/queue${app.id}/delay`))}>Launch now (reset the delay)</button>}
          {resetError && <div class="notice error">{resetError}</div>}
          {summary && <OfferSummary summary={summary} />}
        </div>
      ) : <p class="muted">Nothing of this app waits to be launched.</p>}
    </div>
  );
}

function OfferSummary({ summary }) {
  const reasons = summary.rejectSummaryLastOffers || summary.rejectSummaryLaunchAttempt || [];
  return (
    <div>
      <h4>Why not placed (last offers)</h4>
      <p>{summary.processedOffersCount} offers processed, {summary.unusedOffersCount} unused{summary.lastUnusedOfferAt ? `, the last at ${summary.lastUnusedOfferAt}` : ''}.</p>
      <table class="list small">
        <thead><tr><th>Requirement</th><th class="num">Declined</th><th class="num">Processed</th></tr></thead>
        <tbody>
          {reasons.map((r) => <tr key={r.reason}><td>{r.reason}</td><td class="num">{r.declined}</td><td class="num">{r.processed}</td></tr>)}
        </tbody>
      </table>
    </div>
  );
}
