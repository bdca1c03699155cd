// An app's stored versions: a line diff between any two, and "apply this version" (rollback).
import { useEffect, useState } from 'preact/hooks';
import { diffLines } from 'diff';
import { getJSON, send, appPath } from './api.js';
import { Confirm, ErrorNotice, failure } from './components.jsx';

function strip(definition) {
  const { version, versionInfo, ...rest } = definition;
  return rest;
}

export function Versions({ app, reload }) {
  const [versions, setVersions] = useState(null);
  const [error, setError] = useState(null);
  const [left, setLeft] = useState(null);
  const [right, setRight] = useState(null);
  const [diff, setDiff] = useState(null);
  const [apply, setApply] = useState(null);

  useEffect(() => {
    getJSON(`${appPath(app.id)}/versions`)
      .then((v) => {
        setVersions(v.versions);
        setRight((r) => r || v.versions[0] || null);
        setLeft((l) => l || v.versions[1] || v.versions[0] || null);
      })
      .catch(setError);
  }, [app.id, app.version]);

  useEffect(() => {
    if (!left || !right) return;
    let stale = false;
    Promise.all([left, right].map((v) => getJSON(`${appPath(app.id)}/versions/${encodeURIComponent(v)}`)))
      .then(([a, b]) => {
        if (!stale) setDiff(diffLines(JSON.stringify(strip(a), null, 2) + '\n', JSON.stringify(strip(b), null, 2) + '\n'));
      })
      .catch(setError);
    return () => { stale = true; };
  }, [app.id, left, right]);

  if (error) return <ErrorNotice error={error} />;
  if (!versions) return <p class="muted">Loading…</p>;
  return (
    <div class="versions">
      <table class="list" data-testid="versions-table">
        <thead><tr><th>Version</th><th>Compare</th><th /></tr></thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v} data-testid="version-row" data-version={v}>
              <td>{v}{v === app.version && <span class="tag">current</span>}</td>
              <td>
                <label class="check"><input type="radio" name="left" checked={left === v} onChange={() => setLeft(v)} /> from</label>
                <label class="check"><input type="radio" name="right" checked={right === v} onChange={() => setRight(v)} /> to</label>
              </td>
              <td>{v !== app.version && <button data-testid="apply-version" onClick={() => setApply(v)}>Apply this version</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Changes from {left} to {right}</h3>
      <pre class="json diff" data-testid="version-diff">
        {diff && diff.map((part, i) => (
          <span key={i} class={part.added ? 'added' : part.removed ? 'removed' : 'same'}>
            {part.value.split('\n').slice(0, -1).map((line) => `${part.added ? '+ ' : part.removed ? '- ' : '  '}${line}\n`).join('')}
          </span>
        ))}
      </pre>
      {apply && (
        <Confirm title={`Apply version ${apply}?`} confirmLabel="Apply" onClose={() => setApply(null)}
          onConfirm={async () => {
            const result = await send('PUT', appPath(app.id), { version: apply });
            reload();
            return failure(result);
          }}>
          <p>{app.id} is deployed again as it was defined at {apply}.</p>
        </Confirm>
      )}
    </div>
  );
}
