// Creating and editing apps as JSON; a 422's details are shown at their fields.
import { useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { send, appPath } from './api.js';
import { JsonEditor } from './editor.jsx';
import { appHref } from './format.js';

const TEMPLATE = (group) => ({
  id: `${group === '/' ? '' : group}/my-app`,
  cmd: 'python3 -m http.server $PORT0',
  cpus: 0.1,
  mem: 64,
  instances: 1,
  portDefinitions: [{ port: 0, name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 5, maxConsecutiveFailures: 3 }],
});

/** Sends the editor's text; shows problems. `submit(text)` resolves to the change's answer. */
function useSubmit(submit, onDone) {
  const editor = useRef(null);
  const [problems, setProblems] = useState([]);
  const [message, setMessage] = useState(null);
  const [busy, setBusy] = useState(false);
  const [locked, setLocked] = useState(false);
  const go = async (force) => {
    const text = editor.current.text();
    try {
      JSON.parse(text);
    } catch (e) {
      setMessage(`Not JSON: ${e.message}`);
      return;
    }
    setBusy(true);
    const result = await submit(text, force);
    setBusy(false);
    if (result.ok) {
      setProblems([]);
      setMessage(null);
      onDone(result);
      return;
    }
    const body = result.body || {};
    setLocked(result.status === 409);
    setMessage(body.message || `HTTP ${result.status}`);
    setProblems(Array.isArray(body.details) ? body.details : []);
    if (typeof body.details === 'string') setMessage(`${body.message}: ${body.details}`);
  };
  return { editor, problems, message, busy, locked, go };
}

function Form({ title, initial, state, label }) {
  return (
    <section class="page" data-testid="editor-page">
      <h2>{title}</h2>
      <JsonEditor initial={initial} editor={state.editor} problems={state.problems} />
      {state.message && (
        <div class="notice error" role="alert" data-testid="editor-message">
          {state.message}
          {state.problems.length > 0 && (
            <ul>{state.problems.map((p) => <li key={p.path} data-path={p.path}><code>{p.path}</code> {p.errors.join('; ')}</li>)}</ul>
          )}
          {state.locked && <button onClick={() => state.go(true)}>Force the change</button>}
        </div>
      )}
      <div class="buttons">
        <button class="primary" disabled={state.busy} onClick={() => state.go(false)} data-testid="submit-app">{label}</button>
      </div>
    </section>
  );
}

export function CreateApp() {
  const { query, route } = useLocation();
  const group = query.group || '/';
  const state = useSubmit(
    (text) => send('POST', '/v2/apps', text),
    (result) => route(appHref(result.body.id)),
  );
  return <Form title="Create an application" initial={JSON.stringify(TEMPLATE(group), null, 2)} state={state} label="Create" />;
}

export function EditApp({ app, onDone }) {
  const state = useSubmit(
    (text, force) => send('PUT', `${appPath(app.id)}${force ? '?force=true' : ''}`, text),
    onDone,
  );
  return <Form title={`Edit ${app.id}`} initial={JSON.stringify(app, null, 2)} state={state} label="Deploy changes" />;
}
