// Running deployments: their steps with live progress, cancel (roll back) and force-stop.
import { useState } from 'preact/hooks';
import { getJSON, send, useLive } from './api.js';
import { appHref } from './format.js';
import { Confirm, ErrorNotice, InstanceBar, failure } from './components.jsx';

async function loadDeployments() {
  const [deployments, apps] = await Promise.all([
    getJSON('/v2/deployments'),
    getJSON('/v2/apps?embed=apps.counts'),
  ]);
  return { deployments, apps: new Map(apps.apps.map((a) => [a.id, a])) };
}

export function DeploymentsPage() {
  const { data, error, reload } = useLive(loadDeployments, []);
  const [dialog, setDialog] = useState(null);
  return (
    <section class="page" data-testid="deployments-page">
      <h2>Deployments</h2>
      <ErrorNotice error={error} />
      {data && data.deployments.length === 0 && <p class="muted" data-testid="no-deployments">No deployment is running.</p>}
      {data && data.deployments.map((d) => (
        <div class="card" key={d.id} data-testid="deployment" data-deployment-id={d.id}>
          <div class="card-head">
            <div>
              <strong>{d.id}</strong>
              <div class="muted small">version {d.version}; apps {d.affectedApps.map((a) => <a key={a} href={appHref(a)}>{a} </a>)}</div>
            </div>
            <div class="actions">
              <button data-testid="rollback" onClick={() => setDialog({ d, force: false })}>Roll back</button>
              <button data-testid="force-stop" class="danger" onClick={() => setDialog({ d, force: true })}>Stop</button>
            </div>
          </div>
          <div class="progress" title={`step ${d.currentStep} of ${d.totalSteps}`}>
            <span style={{ width: `${(100 * Math.max(0, d.currentStep - 1)) / Math.max(1, d.totalSteps)}%` }} />
          </div>
          <ol class="steps">
            {d.steps.map((step, i) => {
              const n = i + 1;
              const state = n < d.currentStep ? 'done' : n === d.currentStep ? 'active' : 'pending';
              return (
                <li key={i} class={`step step-${state}`} data-testid="step" data-state={state}>
                  <span class="step-state">{state}</span>
                  {step.actions.map((a, j) => {
                    const app = data.apps.get(a.app);
                    return (
                      <div key={j} class="action">
                        <span>{a.action} <a href={appHref(a.app)}>{a.app}</a></span>
                        {state === 'active' && app && <InstanceBar app={app} />}
                      </div>
                    );
                  })}
                </li>
              );
            })}
          </ol>
        </div>
      ))}
      {dialog && (
        <Confirm
          title={dialog.force ? `Stop deployment ${dialog.d.id}?` : `Roll back deployment ${dialog.d.id}?`}
          confirmLabel={dialog.force ? 'Stop' : 'Roll back'} danger={dialog.force}
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            const result = await send('DELETE', `/v2/deployments/${encodeURIComponent(dialog.d.id)}${dialog.force ? '?force=true' : ''}`);
            reload();
            return failure(result);
          }}>
          <p>{dialog.force
            ? 'The deployment is no longer tracked; the apps keep converging to their current definitions. No rollback happens.'
            : 'A new deployment brings the affected apps back to where they were before this one.'}</p>
        </Confirm>
      )}
    </section>
  );
}
