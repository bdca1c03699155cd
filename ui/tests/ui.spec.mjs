// The operator's path through the UI, in one browser page that is never reloaded: create an
// app in the editor (a bad field shows its 422 message at the field), watch it turn healthy,
// scale it, read a task's stdout, compare versions and roll back, cancel a deployment, see the
// agent and its resources. A screenshot of every page goes to UI_SCREENSHOTS.
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const SHOTS = process.env.UI_SCREENSHOTS || 'screenshots';
mkdirSync(SHOTS, { recursive: true });
const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

const APP_ID = '/ui-test/web';
const app = (extra = {}) => ({
  id: APP_ID,
  cmd: 'echo hello-ui-stdout && exec python3 -m http.server $PORT0',
  cpus: 0.05,
  mem: 32,
  instances: 1,
  portDefinitions: [{ port: 0, name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 1, maxConsecutiveFailures: 3 }],
  ...extra,
});

/** Replaces the editor's text (CodeMirror) with `text`. */
async function setEditor(page, text) {
  const content = page.locator('[data-testid=editor] .cm-content');
  await content.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** Navigation inside the app (the nav links), never a page load. */
async function nav(page, name) {
  await page.getByTestId(`nav-${name}`).click();
}

test('the operator path, live and without reloads', async ({ page, request }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/');
  await expect(page).toHaveURL(/\/ui\/$/);
  await expect(page.getByTestId('live')).toHaveText('live');
  // A full page load would drop this marker.
  await page.evaluate(() => { window.__sameDocument = true; });
  await shot(page, '01-apps-empty');

  // --- create, first with a bad field ----------------------------------------------------------
  await page.getByTestId('create-app').click();
  await expect(page.getByTestId('editor-page')).toBeVisible();
  const bad = app({ cpus: -1 });
  const expected = await request.post('/v2/apps', { data: bad });
  expect(expected.status()).toBe(422);
  const details = (await expected.json()).details;
  const cpusErrors = details.find((d) => d.path === '/cpus').errors.join('; ');
  await setEditor(page, JSON.stringify(bad, null, 2));
  await page.getByTestId('submit-app').click();
  // The message follows the field's line, and the field itself is marked.
  await expect(page.locator('.cm-problem[data-path="/cpus"]')).toHaveText('"cpus"');
  const atField = page.locator('.cm-line', { has: page.locator('.cm-problem[data-path="/cpus"]') });
  await expect(atField.getByTestId('field-problem')).toHaveText(cpusErrors);
  await expect(page.getByTestId('editor-message')).toContainText('/cpus');
  await shot(page, '02-editor-422');

  await setEditor(page, JSON.stringify(app(), null, 2));
  await page.getByTestId('submit-app').click();
  await expect(page).toHaveURL(/\/ui\/apps\/ui-test\/web$/);
  await expect(page.getByTestId('app-page')).toBeVisible();

  // --- instances turn healthy, live ----------------------------------------------------------
  await expect(page.locator('[data-testid=task-row][data-health=healthy]')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.getByTestId('status')).toHaveText('running');
  await shot(page, '03-app-tasks');

  // --- scale ---------------------------------------------------------------------------------
  await page.getByTestId('scale').click();
  await page.getByTestId('scale-instances').fill('2');
  await page.locator('dialog[open]').getByRole('button', { name: 'Scale', exact: true }).click();
  await expect(page.locator('[data-testid=task-row][data-health=healthy]')).toHaveCount(2, { timeout: 60_000 });
  await expect(page.locator('.summary [data-testid=instances]')).toHaveText('2 / 2');

  // --- a task's stdout -----------------------------------------------------------------------
  await page.getByTestId('task-logs-link').first().click();
  await expect(page.getByTestId('log-text')).toContainText('hello-ui-stdout');
  await shot(page, '04-task-stdout');
  // stderr grows with every health check (the server logs each request), and is followed.
  await page.getByTestId('task-logs').getByRole('button', { name: 'stderr' }).click();
  await expect(page.getByTestId('log-text')).toContainText('GET / HTTP');
  const lines = async () => (await page.getByTestId('log-text').textContent()).split('\n').length;
  const before = await lines();
  await expect.poll(lines, { timeout: 20_000 }).toBeGreaterThan(before);

  // --- the tree shows the group and the app --------------------------------------------------
  await nav(page, 'apps');
  const group = page.locator('[data-testid=group-row][data-group-id="/ui-test"]');
  await expect(group.getByTestId('instances')).toHaveText('2 / 2');
  await group.getByRole('link').click();
  const row = page.locator(`[data-testid=app-row][data-app-id="${APP_ID}"]`);
  await expect(row).toHaveAttribute('data-status', 'running');
  await expect(row.getByTestId('instances')).toHaveText('2 / 2');
  await page.getByRole('searchbox').fill('nothing-matches');
  await expect(page.locator('[data-testid=app-row]')).toHaveCount(0);
  await page.getByRole('searchbox').fill('web');
  await expect(page.locator('[data-testid=app-row]')).toHaveCount(1);
  await shot(page, '05-apps-tree');

  // --- configuration, versions: diff and roll back --------------------------------------------
  await row.getByRole('link').click();
  await page.getByTestId('tab-configuration').click();
  await expect(page.getByTestId('config')).toContainText('"instances": 2');
  await shot(page, '06-app-configuration');
  await page.getByTestId('tab-versions').click();
  await expect(page.locator('[data-testid=version-row]')).toHaveCount(2);
  await expect(page.getByTestId('version-diff').locator('.removed')).toContainText('"instances": 1');
  await expect(page.getByTestId('version-diff').locator('.added')).toContainText('"instances": 2');
  await shot(page, '07-app-versions');
  await page.locator('[data-testid=version-row]').last().getByTestId('apply-version').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.locator('.summary [data-testid=instances]')).toHaveText('1 / 1', { timeout: 60_000 });
  await page.getByTestId('tab-tasks').click();
  await expect(page.locator('[data-testid=task-row]')).toHaveCount(1, { timeout: 60_000 });

  // --- kill a task: a new one replaces it ------------------------------------------------------
  const killed = await page.locator('[data-testid=task-row]').getAttribute('data-task-id');
  await page.getByRole('checkbox', { name: `select ${killed}` }).check();
  await page.getByTestId('kill').click();
  await expect(page.locator('dialog[open]')).toContainText(killed);
  await page.locator('dialog[open]').getByRole('button', { name: 'Kill', exact: true }).click();
  await expect(page.locator(`[data-testid=task-row][data-task-id="${killed}"]`)).toHaveCount(0, { timeout: 60_000 });
  await expect(page.locator('[data-testid=task-row][data-health=healthy]')).toHaveCount(1, { timeout: 60_000 });

  // --- edit the definition in the editor ------------------------------------------------------
  await page.getByTestId('tab-edit').click();
  await expect(page.getByTestId('editor')).toContainText('"mem": 32');
  await setEditor(page, JSON.stringify(app({ mem: 48 }), null, 2));
  await page.getByTestId('submit-app').click();
  await expect(page.getByTestId('tasks-table')).toBeVisible();
  await expect(page.locator('.summary')).toContainText('48 MiB');
  await expect(page.getByTestId('status')).toHaveText('running', { timeout: 60_000 });
  await expect(page.locator('[data-testid=task-row]')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.locator('[data-testid=task-row][data-health=healthy]')).toHaveCount(1, { timeout: 60_000 });

  // --- restart: the task is replaced by a new healthy one -------------------------------------
  const beforeRestart = await page.locator('[data-testid=task-row]').getAttribute('data-task-id');
  await page.getByTestId('restart').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Restart', exact: true }).click();
  await expect(page.locator(`[data-testid=task-row][data-task-id="${beforeRestart}"]`)).toHaveCount(0, { timeout: 60_000 });
  await expect(page.locator('[data-testid=task-row][data-health=healthy]')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.getByTestId('status')).toHaveText('running', { timeout: 60_000 });

  // --- a deployment that cannot finish, rolled back -------------------------------------------
  const stuck = await request.post('/v2/apps', { data: { id: '/ui-test/stuck', cmd: 'sleep 600', cpus: 1000, mem: 8, instances: 1, portDefinitions: [] } });
  expect(stuck.status()).toBe(201);
  const deploymentId = (await stuck.json()).deployments[0].id;
  await expect(page.getByTestId('deployments-count')).toHaveText('1');
  await nav(page, 'deployments');
  const deployment = page.locator(`[data-testid=deployment][data-deployment-id="${deploymentId}"]`);
  await expect(deployment.locator('[data-testid=step][data-state=active]')).toHaveCount(1);
  await shot(page, '08-deployments');
  await deployment.getByTestId('rollback').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Roll back', exact: true }).click();
  await expect(deployment).toHaveCount(0);
  await expect(page.getByTestId('no-deployments')).toBeVisible({ timeout: 60_000 });
  // The rollback of a new app removes it.
  await expect.poll(async () => (await request.get('/v2/apps/ui-test/stuck')).status(), { timeout: 30_000 }).toBe(404);

  // --- a deployment force-stopped: its app stays, waiting for offers that fit ------------------
  const waiting = await request.post('/v2/apps', { data: { id: '/ui-test/waiting', cmd: 'sleep 600', cpus: 1000, mem: 8, instances: 1, portDefinitions: [] } });
  expect(waiting.status()).toBe(201);
  const stopped = page.locator(`[data-testid=deployment][data-deployment-id="${(await waiting.json()).deployments[0].id}"]`);
  await stopped.getByTestId('force-stop').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(stopped).toHaveCount(0);
  await expect(page.getByTestId('no-deployments')).toBeVisible();
  await nav(page, 'apps');
  await page.getByRole('checkbox', { name: /^waiting/ }).check();
  const waitingRow = page.locator('[data-testid=app-row][data-app-id="/ui-test/waiting"]');
  await expect(waitingRow).toHaveAttribute('data-status', 'waiting');
  await expect(page.locator('[data-testid=app-row]')).toHaveCount(1);
  await waitingRow.getByRole('link').click();
  await page.getByTestId('tab-debug').click();
  await expect(page.getByTestId('debug')).toContainText('InsufficientCpus', { timeout: 30_000 });
  await shot(page, '10-app-debug');
  await page.getByTestId('destroy').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Destroy', exact: true }).click();
  await expect(page).toHaveURL(/\/ui\/groups\/ui-test$/);

  // --- a failing app: delayed, its last failure, and launching it now -------------------------
  const failing = await request.post('/v2/apps', { data: { id: '/ui-test/failing', cmd: 'exit 3', cpus: 0.01, mem: 8, instances: 1, portDefinitions: [], backoffSeconds: 600 } });
  expect(failing.status()).toBe(201);
  // Its deployment cannot finish; stopping it leaves the app to its backoff.
  expect((await request.delete(`/v2/deployments/${(await failing.json()).deployments[0].id}?force=true`)).status()).toBe(202);
  await nav(page, 'apps');
  await page.getByRole('searchbox').fill('failing');
  const failingRow = page.locator('[data-testid=app-row][data-app-id="/ui-test/failing"]');
  await expect(failingRow).toHaveAttribute('data-status', 'delayed', { timeout: 30_000 });
  await failingRow.getByRole('link').click();
  await page.getByTestId('tab-debug').click();
  const firstFailure = await page.getByTestId('failed-task').textContent();
  await expect(page.getByTestId('debug')).toContainText('TASK_FAILED');
  await expect(page.getByTestId('launch-delay')).toContainText('s left');
  await page.getByTestId('reset-delay').click();
  await expect(page.getByTestId('failed-task')).not.toHaveText(firstFailure, { timeout: 30_000 });
  await shot(page, '10b-app-delayed');
  expect((await request.delete('/v2/apps/ui-test/failing')).status()).toBe(200);

  // --- the cluster: the agent and its resources ----------------------------------------------
  const readAgent = async () => (await (await request.get('/ui/api/master/state')).json()).slaves[0];
  const agent = await readAgent();
  await nav(page, 'cluster');
  const agentRow = page.locator(`[data-testid=agent-row][data-agent-id="${agent.id}"]`);
  await expect(agentRow).toContainText(agent.hostname);
  await expect(agentRow).toContainText('active');
  // What the page shows matches the master's numbers (read again: tasks may still end).
  await expect.poll(async () => {
    const now = await readAgent();
    const free = String(Math.round((now.resources.cpus - now.used_resources.cpus) * 1000) / 1000);
    return (await agentRow.getByTestId('free-cpus').textContent()) === free;
  }, { timeout: 20_000 }).toBe(true);
  await expect(page.locator('[data-testid=framework-row]')).toContainText(['marathon']);
  await shot(page, '09-cluster');

  // --- destroy, with its confirmation ---------------------------------------------------------
  await page.goBack(); // history works: back to the deployments page
  await nav(page, 'apps');
  await page.locator('[data-testid=group-row][data-group-id="/ui-test"]').getByRole('link').click();
  await page.locator(`[data-testid=app-row][data-app-id="${APP_ID}"]`).getByRole('link').click();
  await page.getByTestId('suspend').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Suspend', exact: true }).click();
  await expect(page.getByTestId('status')).toHaveText('suspended', { timeout: 60_000 });
  await expect(page.locator('.summary [data-testid=instances]')).toHaveText('0 / 0');
  await page.getByTestId('destroy').click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Destroy', exact: true }).click();
  await expect(page).toHaveURL(/\/ui\/groups\/ui-test$/);
  await expect(page.locator(`[data-testid=app-row][data-app-id="${APP_ID}"]`)).toHaveCount(0);

  expect(await page.evaluate(() => window.__sameDocument)).toBe(true);
  expect(await page.evaluate(() => window.__marathonEvents > 0)).toBe(true);
  expect(errors).toEqual([]);
});
