// The master's own page at its root: the agent, Marathon as a framework, a task of it, and
// that task's sandbox (a directory listing and its stdout), read through the master.
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const SHOTS = process.env.UI_SCREENSHOTS || 'screenshots';
const MASTER = process.env.MASTER_URL;

test('the master page shows agents, frameworks, tasks and a sandbox', async ({ page, request }) => {
  test.skip(!MASTER, 'MASTER_URL is not set');
  mkdirSync(SHOTS, { recursive: true });
  const created = await request.post('/v2/apps', {
    data: { id: '/master-ui/sleeper', cmd: 'echo hello-master-page && sleep 600', cpus: 0.01, mem: 8, instances: 1, portDefinitions: [] },
  });
  expect(created.status()).toBe(201);
  let taskId = null;
  await expect.poll(async () => {
    const app = await (await request.get('/v2/apps/master-ui/sleeper')).json();
    const task = (app.app.tasks || []).find((t) => t.state === 'TASK_RUNNING');
    taskId = task ? task.id : null;
    return taskId;
  }, { timeout: 60_000 }).not.toBeNull();

  const state = await (await request.get(`${MASTER}/master/state`)).json();
  await page.goto(`${MASTER}/`);
  await expect(page.locator(`[data-testid=agent-row][data-agent-id="${state.slaves[0].id}"]`)).toContainText(state.slaves[0].hostname);
  await expect(page.getByTestId('master-leader')).toContainText(state.leader);
  await page.screenshot({ path: join(SHOTS, '11-master-agents.png'), fullPage: true });

  await page.getByTestId('nav-frameworks').click();
  await expect(page.locator('[data-testid=framework-row]')).toContainText(['marathon']);

  await page.getByTestId('nav-tasks').click();
  const row = page.locator(`[data-testid=task-row][data-task-id="${taskId}"]`);
  await expect(row).toContainText('TASK_RUNNING');
  await row.getByTestId('sandbox').click();
  const stdout = page.getByTestId('sandbox-entry').filter({ hasText: /^stdout/ });
  await expect(stdout).toHaveCount(1);
  await stdout.getByRole('button').click();
  await expect(page.getByTestId('sandbox-file')).toContainText('hello-master-page');
  await page.screenshot({ path: join(SHOTS, '12-master-sandbox.png'), fullPage: true });

  expect((await request.delete('/v2/apps/master-ui/sleeper')).status()).toBe(200);
});
