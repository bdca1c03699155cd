// The cluster as the master sees it (through the scheduler): the leading master, agents
// with their used and free resources, attributes and state, and the frameworks.
import { getJSON, useLive } from './api.js';
import { fmtCpus, fmtMem } from './format.js';
import { ErrorNotice, FrameworksTable, ResourceBar } from './components.jsx';

async function loadCluster() {
  const [state, leader, info] = await Promise.all([
    getJSON('/ui/api/master/state'),
    getJSON('/v2/leader').catch(() => null),
    getJSON('/v2/info').catch(() => null),
  ]);
  return { state, leader, info };
}

function attributes(a) {
  return Object.entries(a || {}).map(([k, v]) => `${k}:${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

function agentState(agent) {
  if (agent.active) return 'active';
  return agent.deactivated ? 'deactivated' : 'inactive';
}

export function ClusterPage() {
  // The master's state is large and changes without Marathon's events (other frameworks):
  // read every 5 s instead, as Mesos' own UI does.
  const { data, error } = useLive(loadCluster, [], { interval: 5000, events: false });
  const state = data && data.state;
  return (
    <section class="page" data-testid="cluster-page">
      <h2>Cluster</h2>
      <ErrorNotice error={error} />
      {data && (
        <dl class="kv">
          <dt>Leading master</dt><dd data-testid="master-leader">{state.leader} ({state.hostname}, Mesos {state.version})</dd>
          <dt>Marathon leader</dt><dd data-testid="marathon-leader">{data.leader ? data.leader.leader : 'none'}</dd>
          {data.info && <><dt>Framework</dt><dd>{data.info.frameworkId} ({data.info.marathon_config.framework_name})</dd></>}
        </dl>
      )}
      {state && (
        <>
          <h3>Agents ({state.slaves.length})</h3>
          <table class="list" data-testid="agents-table">
            <thead><tr><th>Agent</th><th>State</th><th>CPU</th><th>Memory</th><th>Disk</th><th class="num">Free CPU</th><th class="num">Free memory</th><th>Attributes</th></tr></thead>
            <tbody>
              {state.slaves.map((a) => {
                const total = a.resources || {};
                const used = a.used_resources || {};
                return (
                  <tr key={a.id} data-testid="agent-row" data-agent-id={a.id}>
                    <td><div>{a.hostname}</div><div class="muted small">{a.id}</div><div class="muted small">{a.pid}</div></td>
                    <td><span class={`status status-${agentState(a) === 'active' ? 'running' : 'suspended'}`}>{agentState(a)}</span></td>
                    <td><ResourceBar used={used.cpus || 0} total={total.cpus || 0} format={fmtCpus} /></td>
                    <td><ResourceBar used={used.mem || 0} total={total.mem || 0} format={fmtMem} /></td>
                    <td><ResourceBar used={used.disk || 0} total={total.disk || 0} format={fmtMem} /></td>
                    <td class="num" data-testid="free-cpus">{fmtCpus((total.cpus || 0) - (used.cpus || 0))}</td>
                    <td class="num" data-testid="free-mem">{fmtMem((total.mem || 0) - (used.mem || 0))}</td>
                    <td class="small">{attributes(a.attributes) || '–'}{total.ports ? <div class="muted">ports {total.ports}</div> : null}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h3>Frameworks ({state.frameworks.length})</h3>
          <FrameworksTable frameworks={state.frameworks} testid="frameworks-table" />
        </>
      )}
    </section>
  );
}
