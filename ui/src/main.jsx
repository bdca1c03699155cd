// The UI's shell: navigation, the event stream's state, and the pages by path (below /ui/).
import { render } from 'preact';
import { LocationProvider, useLocation } from 'preact-iso';
import { getJSON, useLive, useStreamConnected } from './api.js';
import { AppsPage } from './apps.jsx';
import { AppPage } from './app.jsx';
import { CreateApp } from './create.jsx';
import { DeploymentsPage } from './deployments.jsx';
import { ClusterPage } from './cluster.jsx';

function decodeId(rest) {
  return '/' + rest.split('/').filter(Boolean).map(decodeURIComponent).join('/');
}

function Page() {
  const { path } = useLocation();
  if (path.startsWith('/ui/apps/')) return <AppPage id={decodeId(path.slice('/ui/apps/'.length))} />;
  if (path.startsWith('/ui/groups/')) return <AppsPage group={decodeId(path.slice('/ui/groups/'.length))} />;
  if (path === '/ui/new') return <CreateApp />;
  if (path === '/ui/deployments') return <DeploymentsPage />;
  if (path === '/ui/cluster') return <ClusterPage />;
  return <AppsPage group="/" />;
}

function Nav() {
  const { path } = useLocation();
  const connected = useStreamConnected();
  const deployments = useLive(() => getJSON('/v2/deployments'), []).data;
  const running = deployments ? deployments.length : 0;
  const section = path.startsWith('/ui/deployments') ? 'deployments' : path.startsWith('/ui/cluster') ? 'cluster' : 'apps';
  return (
    <header class="top">
      <a class="brand" href="/ui/">Marathon</a>
      <nav>
        <a href="/ui/" class={section === 'apps' ? 'active' : ''} data-testid="nav-apps">Applications</a>
        <a href="/ui/deployments" class={section === 'deployments' ? 'active' : ''} data-testid="nav-deployments">
          Deployments{running > 0 && <span class="count" data-testid="deployments-count">{running}</span>}
        </a>
        <a href="/ui/cluster" class={section === 'cluster' ? 'active' : ''} data-testid="nav-cluster">Cluster</a>
      </nav>
      <span class={`live ${connected ? 'on' : 'off'}`} data-testid="live" title="/v2/events">{connected ? 'live' : 'reconnecting…'}</span>
    </header>
  );
}

function App() {
  return (
    <LocationProvider scope="/ui">
      <Nav />
      <main><Page /></main>
    </LocationProvider>
  );
}

render(<App />, document.getElementById('app'));
