// The apps and groups tree: one group at a time, its groups and apps with their status,
// instances and resources; a search over everything below it and a status filter.
import { useState } from 'preact/hooks';
import { getJSON, useLive } from './api.js';
import { appStatus, queueByApp, STATUSES, fmtCpus, fmtMem, baseName, parentOf, appHref, groupHref } from './format.js';
import { InstanceBar, StatusBadge, ErrorNotice } from './components.jsx';

async function loadApps() {
  const [apps, groups, queue] = await Promise.all([
    getJSON('/v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure'),
    getJSON('/v2/groups'),
    getJSON('/v2/queue'),
  ]);
  const groupIds = new Set();
  const walk = (g) => {
    if (g.id && g.id !== '/') groupIds.add(g.id);
    for (const sub of g.groups || []) walk(sub);
  };
  walk(groups);
  const byApp = queueByApp(queue);
  const list = apps.apps.map((app) => ({ ...app, status: appStatus(app, byApp.get(app.id)) }));
  // Groups implied by app ids.
  for (const app of list) {
    for (let p = parentOf(app.id); p !== '/'; p = parentOf(p)) groupIds.add(p);
  }
  return { apps: list, groups: [...groupIds].sort() };
}

function within(id, group) {
  return group === '/' ? true : id.startsWith(group + '/');
}

export function AppsPage({ group = '/' }) {
  const { data, error } = useLive(loadApps, []);
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState(() => new Set());
  const toggle = (status) => {
    const next = new Set(filter);
    if (next.has(status)) next.delete(status); else next.add(status);
    setFilter(next);
  };
  const crumbs = [];
  for (let p = group; p !== '/'; p = parentOf(p)) crumbs.unshift(p);
  const apps = data ? data.apps.filter((a) => within(a.id, group)) : [];
  const filtering = search.trim() !== '' || filter.size > 0;
  const matches = (a) =>
    a.id.toLowerCase().includes(search.trim().toLowerCase()) && (filter.size === 0 || filter.has(a.status));
  const counts = Object.fromEntries(STATUSES.map((s) => [s, apps.filter((a) => a.status === s).length]));

  let rows;
  if (filtering) {
    rows = apps.filter(matches).map((a) => <AppRow key={a.id} app={a} label={a.id} />);
  } else {
    const groups = data ? data.groups.filter((g) => parentOf(g) === group) : [];
    rows = [
      ...groups.map((g) => <GroupRow key={g} id={g} apps={apps.filter((a) => within(a.id, g))} />),
      ...apps.filter((a) => parentOf(a.id) === group).map((a) => <AppRow key={a.id} app={a} label={baseName(a.id)} />),
    ];
  }

  return (
    <section class="page" data-testid="apps-page">
      <div class="page-head">
        <nav class="crumbs">
          <a href="/ui/">Applications</a>
          {crumbs.map((c) => <span key={c}> / <a href={groupHref(c)}>{baseName(c)}</a></span>)}
        </nav>
        <a class="button primary" href={`/ui/new?group=${encodeURIComponent(group)}`} data-testid="create-app">Create application</a>
      </div>
      <div class="toolbar">
        <input type="search" placeholder="Filter by name" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="search" />
        {STATUSES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" checked={filter.has(s)} onChange={() => toggle(s)} /> {s} ({counts[s]})
          </label>
        ))}
      </div>
      <ErrorNotice error={error} />
      {data === undefined && !error ? <p class="muted">Loading…</p> : (
        <table class="list" data-testid="apps-table">
          <thead><tr><th>Name</th><th class="num">CPU</th><th class="num">Memory</th><th>Status</th><th>Running instances</th></tr></thead>
          <tbody>
            {rows.length ? rows : <tr><td colSpan={5} class="muted">{filtering ? 'No application matches.' : 'No applications here yet.'}</td></tr>}
          </tbody>
        </table>
      )}
    </section>
  );
}

function AppRow({ app, label }) {
  return (
    <tr data-testid="app-row" data-app-id={app.id} data-status={app.status}>
      <td><a href={appHref(app.id)}>{label}</a></td>
      <td class="num" title={`${fmtCpus(app.cpus)} per instance`}>{fmtCpus(app.cpus * app.instances)}</td>
      <td class="num" title={`${fmtMem(app.mem)} per instance`}>{fmtMem(app.mem * app.instances)}</td>
      <td><StatusBadge status={app.status} /></td>
      <td><InstanceBar app={app} /></td>
    </tr>
  );
}

function GroupRow({ id, apps }) {
  const sum = (f) => apps.reduce((n, a) => n + (f(a) || 0), 0);
  const total = {
    instances: sum((a) => a.instances), tasksRunning: sum((a) => a.tasksRunning), tasksHealthy: sum((a) => a.tasksHealthy),
    tasksUnhealthy: sum((a) => a.tasksUnhealthy), tasksStaged: sum((a) => a.tasksStaged),
  };
  return (
    <tr data-testid="group-row" data-group-id={id}>
      <td><a href={groupHref(id)}>📁 {baseName(id)}</a></td>
      <td class="num">{fmtCpus(sum((a) => a.cpus * a.instances))}</td>
      <td class="num">{fmtMem(sum((a) => a.mem * a.instances))}</td>
      <td class="muted">{apps.length} apps</td>
      <td><InstanceBar app={total} /></td>
    </tr>
  );
}
