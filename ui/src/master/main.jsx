// The master's own page, at its root: agents, frameworks, tasks, and a task's sandbox
// (directories and files read from its agent through the master). It reads /master/state
// every 2 s, as Mesos' UI does. Sections by hash: #agents, #frameworks, #tasks.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJSON, useLive } from '../api.js';
import { fmtCpus, fmtMem } from '../format.js';
import { ErrorNotice, FrameworksTable, ResourceBar } from '../components.jsx';

const SECTIONS = ['agents', 'frameworks', 'tasks'];

function useHash() {
  const read = () => (SECTIONS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'agents');
  const [hash, setHash] = useState(read);
  useEffect(() => {
    const on = () => setHash(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Master() {
  const section = useHash();
  const { data: state, error } = useLive(() => getJSON('/master/state'), [], { interval: 2000, events: false });
  const [sandbox, setSandbox] = useState(null);
  const tasks = state ? state.frameworks.flatMap((f) => (f.tasks || []).map((t) => ({ ...t, framework: f }))) : [];
  return (
    <>
      <header class="top">
        <span class="brand">Mesos master</span>
        <nav>
          {SECTIONS.map((s) => <a key={s} href={`#${s}`} class={s === section ? 'active' : ''} data-testid={`nav-${s}`}>{s[0].toUpperCase() + s.slice(1)}</a>)}
        </nav>
        {state && <span class="muted small" data-testid="master-leader">leader {state.leader || 'none'}</span>}
      </header>
      <main>
        <ErrorNotice error={error} />
        {state && state.pid !== state.leader && state.leader && (
          <div class="notice">This master is not the leader; the leader is {state.leader}.</div>
        )}
        {state && section === 'agents' && <Agents state={state} />}
        {state && section === 'frameworks' && <Frameworks state={state} />}
        {state && section === 'tasks' && <Tasks tasks={tasks} open={setSandbox} />}
        {sandbox && <Sandbox {...sandbox} onClose={() => setSandbox(null)} />}
      </main>
    </>
  );
}

function Agents({ state }) {
  return (
    <section class="page" data-testid="master-agents">
      <h2>Agents ({state.slaves.length})</h2>
      <table class="list">
        <thead><tr><th>Agent</th><th>State</th><th>CPU</th><th>Memory</th><th>Disk</th><th>Attributes</th></tr></thead>
        <tbody>
          {state.slaves.map((a) => (
            <tr key={a.id} data-testid="agent-row" data-agent-id={a.id}>
              <td><div>{a.hostname}</div><div class="muted small">{a.id}</div><div class="muted small">{a.pid}</div></td>
              <td>{a.active ? 'active' : 'inactive'}</td>
              <td><ResourceBar used={(a.used_resources || {}).cpus || 0} total={(a.resources || {}).cpus || 0} format={fmtCpus} /></td>
              <td><ResourceBar used={(a.used_resources || {}).mem || 0} total={(a.resources || {}).mem || 0} format={fmtMem} /></td>
              <td><ResourceBar used={(a.used_resources || {}).disk || 0} total={(a.resources || {}).disk || 0} format={fmtMem} /></td>
              <td class="small">{Object.entries(a.attributes || {}).map(([k, v]) => `${k}:${v}`).join(', ') || '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Frameworks({ state }) {
  return (
    <section class="page" data-testid="master-frameworks">
      <h2>Frameworks ({state.frameworks.length})</h2>
      <FrameworksTable frameworks={state.frameworks} />
    </section>
  );
}

function Tasks({ tasks, open }) {
  return (
    <section class="page" data-testid="master-tasks">
      <h2>Tasks ({tasks.length})</h2>
      <table class="list">
        <thead><tr><th>Task</th><th>Framework</th><th>Agent</th><th>State</th><th class="num">CPU</th><th class="num">Memory</th><th /></tr></thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={`${t.framework_id}/${t.id}`} data-testid="task-row" data-task-id={t.id}>
              <td class="small">{t.id}</td>
              <td>{t.framework.name}</td>
              <td class="small">{t.slave_id}</td>
              <td>{t.state}</td>
              <td class="num">{fmtCpus((t.resources || {}).cpus)}</td>
              <td class="num">{fmtMem((t.resources || {}).mem)}</td>
              <td><button data-testid="sandbox" onClick={() => open({
                agent: t.slave_id,
                root: `/frameworks/${t.framework_id}/executors/${t.executor_id || t.id}/runs/latest`,
                title: t.id,
              })}>Sandbox</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A sandbox's directories and files, read from its agent through the master. */
function Sandbox({ agent, root, title, onClose }) {
  const [path, setPath] = useState(root);
  const [entries, setEntries] = useState(null);
  const [file, setFile] = useState(null);
  const [error, setError] = useState(null);
  const base = `/ui/api/agents/${encodeURIComponent(agent)}/files`;
  useEffect(() => {
    setEntries(null);
    getJSON(`${base}/browse?path=${encodeURIComponent(path)}`).then(setEntries, setError);
  }, [path]);
  const read = async (p) => {
    try {
      const end = await getJSON(`${base}/read?path=${encodeURIComponent(p)}&offset=-1`);
      const offset = Math.max(0, end.offset - 65536);
      const chunk = await getJSON(`${base}/read?path=${encodeURIComponent(p)}&offset=${offset}&length=65536`);
      setFile({ path: p, data: chunk.data });
    } catch (e) {
      setError(e);
    }
  };
  // Paths the agent lists are real ones; show them below the sandbox root.
  const name = (p) => p.slice(p.lastIndexOf('/') + 1);
  return (
    <section class="page card" data-testid="master-sandbox">
      <div class="card-head">
        <div><strong>Sandbox of {title}</strong><div class="muted small">{path}</div></div>
        <div class="actions">
          {path !== root && <button onClick={() => { setPath(root); setFile(null); }}>Sandbox root</button>}
          <button onClick={onClose}>Close</button>
        </div>
      </div>
      <ErrorNotice error={error} />
      {entries && (
        <table class="list small" data-testid="sandbox-files">
          <thead><tr><th>Name</th><th>Mode</th><th class="num">Size</th><th>Modified</th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.path} data-testid="sandbox-entry">
                <td>{e.mode.startsWith('d')
                  ? <button class="link" onClick={() => setPath(e.path)}>{name(e.path)}/</button>
                  : <button class="link" onClick={() => read(e.path)}>{name(e.path)}</button>}</td>
                <td><code>{e.mode}</code></td>
                <td class="num">{e.size}</td>
                <td>{new Date(e.mtime * 1000).toISOString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {file && (
        <div class="logs">
          <div class="logs-head"><strong>{file.path}</strong><button onClick={() => read(file.path)}>Reload</button></div>
          <pre data-testid="sandbox-file">{file.data}</pre>
        </div>
      )}
    </section>
  );
}

render(<Master />, document.getElementById('app'));
