// The pages' pure logic, without a browser: an app's status, ages, and where a 422's
// `details` path is in the editor's text.
import { test, expect } from '@playwright/test';
import { appStatus, age, parentOf, queueByApp } from '../src/format.js';
import { splitPath, locate } from '../src/paths.js';

test('an app is deploying, suspended, delayed, waiting or running', () => {
  const app = { id: '/a', instances: 2, tasksRunning: 2, deployments: [] };
  expect(appStatus(app, null)).toBe('running');
  expect(appStatus({ ...app, deployments: [{ id: 'd' }] }, null)).toBe('deploying');
  expect(appStatus({ ...app, instances: 0, tasksRunning: 0 }, null)).toBe('suspended');
  // Scaling down to 0: still running tasks, not suspended yet.
  expect(appStatus({ ...app, instances: 0, tasksRunning: 1 }, null)).toBe('running');
  expect(appStatus(app, { count: 1, delay: { overdue: false, timeLeftSeconds: 30 } })).toBe('delayed');
  expect(appStatus(app, { count: 1, delay: { overdue: true, timeLeftSeconds: 0 } })).toBe('waiting');
  const byApp = queueByApp({ queue: [{ app: { id: '/a' }, count: 1 }] });
  expect(byApp.get('/a').count).toBe(1);
});

test('ages and parents', () => {
  const now = Date.parse('2026-01-01T01:00:00Z');
  expect(age('2026-01-01T00:59:58Z', now)).toBe('2s');
  expect(age('2026-01-01T00:57:00Z', now)).toBe('3m 0s');
  expect(age('2025-12-30T01:00:00Z', now)).toBe('2d 0h');
  expect(age(undefined, now)).toBe('–');
  expect(parentOf('/a/b/c')).toBe('/a/b');
  expect(parentOf('/a')).toBe('/');
});

test('422 paths are found in the JSON text', () => {
  expect(splitPath('/healthChecks(0)/portIndex')).toEqual(['healthChecks', 0, 'portIndex']);
  expect(splitPath('/constraints(1)')).toEqual(['constraints', 1]);
  expect(splitPath('/')).toEqual([]);
  const text = JSON.stringify({ id: '/a', cpus: -1, healthChecks: [{ protocol: 'HTTP', portIndex: 3 }] }, null, 2);
  const at = (path) => { const r = locate(text, path); return r && { ...r, text: text.slice(r.from, r.to) }; };
  expect(at('/cpus')).toMatchObject({ text: '"cpus"', exact: true });
  expect(at('/healthChecks(0)/portIndex')).toMatchObject({ text: '"portIndex"', exact: true });
  expect(at('/healthChecks(0)')).toMatchObject({ text: '{\n      "protocol": "HTTP",\n      "portIndex": 3\n    }', exact: true });
  // A missing field is shown at the nearest field that exists.
  expect(at('/healthChecks(0)/path')).toMatchObject({ exact: false });
  expect(at('/mem')).toBe(null);
});
