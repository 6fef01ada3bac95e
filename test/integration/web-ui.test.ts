/**
 * The Temporal Web UI, driven by Debian's headless chromium through playwright-core: an operator
 * reads a run decoded through the API's codec endpoint, while the history itself stays encrypted.
 * Screenshots are saved under test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createApp } from '../../src/api/app';
import { endpointAddress } from '../../src/temporal';
import { apiEndpoint, awaitingApproval, startWorker, TEST_KEY, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_TOKEN = `admin-${uniqueName('token')}-${'x'.repeat(16)}`;

const servers = useTestServers({ worker: false });
let api: Server;
let browser: Browser;
let worker: { stop(): Promise<void> };

beforeAll(async () => {
  const { uiCodec, temporalUiUrl } = testStack();
  const app = createApp({
    client: servers.client,
    namespace: 'default',
    temporalUiUrl,
    keyring: TEST_KEY,
    auth: {
      mode: 'tokens',
      fourEyes: false,
      tokens: [
        { token: uiCodec.viewerToken, subject: 'web-ui', roles: ['viewer'] },
        { token: ADMIN_TOKEN, subject: 'adam', roles: ['admin'] },
      ],
    },
    logger: { error: () => undefined },
  });
  // The port the global setup gave the Web UI as its codec endpoint.
  await new Promise<void>((resolve) => {
    api = app.listen(uiCodec.apiPort, '127.0.0.1', () => resolve());
  });
  worker = await startWorker();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => api.close(resolve));
});

/** The text of the page and of its frames (the UI renders markdown metadata in iframes). */
async function pageText(page: Page): Promise<string> {
  // Runs in the page: `document` is the browser's, which this project's types (node) do not declare.
  const read = 'document.body ? document.body.innerText : ""';
  const texts = await Promise.all(page.frames().map((frame) => frame.evaluate<string>(read).catch(() => '')));
  return texts.join('\n');
}

async function startRun(db: string, approvals: boolean): Promise<{ id: string; runId: string; link: string }> {
  const { source, target, uiCodec } = testStack();
  const id = uniqueName('web-ui');
  const res = await fetch(`http://127.0.0.1:${uiCodec.apiPort}/migrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      id,
      source: apiEndpoint(source),
      target: apiEndpoint(target),
      databases: [db],
      approvals: { required: approvals },
    }),
  });
  const body = (await res.json()) as { runId: string; links: { temporalUi: string } };
  expect(res.status).toBe(201);
  return { id, runId: body.runId, link: body.links.temporalUi };
}

describe('the Temporal Web UI', () => {
  it('shows a run decoded through the codec endpoint: its databases in clear, its passwords still sealed', async () => {
    const db = servers.database('ui_shop');
    await servers.source.exec(`CREATE DATABASE ${db}`);
    await servers.source.exec(`CREATE TABLE ${db}.orders (id UInt64, amount Decimal(18, 2)) ENGINE = MergeTree ORDER BY id`);
    await servers.source.exec(`INSERT INTO ${db}.orders SELECT number, number / 100 FROM system.numbers LIMIT 1000`);
    const run = await startRun(db, true);

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const decodes: number[] = [];
    page.on('response', (res) => {
      if (res.url().includes('/codec/')) decodes.push(res.status());
    });
    try {
      await page.goto(run.link.replace(/\/history$/, ''));
      // The run's summary names the database too: wait for the decoded input itself, with its sealed passwords.
      const text = await waitFor(() => pageText(page), (t) => t.includes(`"databases": [`) && t.includes(db) && t.includes('"sealed"'), `the decoded input naming ${db} on the run's page`, 30_000);
      expect(decodes.length).toBeGreaterThan(0);
      expect(decodes.every((status) => status === 200)).toBe(true);
      expect(text).toContain('"sealed"');
      expect(text).not.toContain(testStack().source.password);
      expect(text).not.toContain(testStack().target.password);
      await page.screenshot({ path: join(ARTIFACTS, 'web-ui-decoded-run.png') });
    } finally {
      await page.close();
      await servers.client.workflow.getHandle(run.id).cancel();
      await servers.client.workflow.getHandle(run.id).result().catch(() => undefined);
    }
  });

  it('shows the run\'s static summary "source → target: databases", its details, and the approval it waits for, with no credential', async () => {
    const { source, target } = testStack();
    const db = servers.database('ui_summary');
    await servers.source.exec(`CREATE DATABASE ${db}`);
    await servers.source.exec(`CREATE TABLE ${db}.items (id UInt64) ENGINE = MergeTree ORDER BY id`);
    const run = await startRun(db, true);
    const summary = `${endpointAddress(source.url)} → ${endpointAddress(target.url)}: ${db}`;
    await awaitingApproval(servers.client.workflow.getHandle(run.id), 'configure');

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(run.link.replace(/\/history$/, ''));
      // The UI renders user metadata (markdown, decoded through the codec endpoint) on its own tab.
      await page.getByText('User Metadata', { exact: true }).first().click();
      const waiting = 'Waiting for approval of configure.';
      const text = await waitFor(
        () => pageText(page),
        (t) => t.includes(summary) && t.includes('Started by adam') && t.includes(waiting),
        `the summary "${summary}", the details and "${waiting}" on the run's page`,
        30_000,
      );
      expect(text).toContain('Who may approve: a token with the role approver or admin');
      expect(text).toMatch(/backup\s+completed/);
      expect(text).toContain(`Databases: ${db}`);
      expect(text).toContain(`Source: ${endpointAddress(source.url)}`);
      expect(text).not.toContain(source.password);
      expect(text).not.toContain(target.password);
      await page.screenshot({ path: join(ARTIFACTS, 'web-ui-run-summary.png') });
      // The event history names each activity by its summary.
      await page.goto(run.link);
      await waitFor(() => pageText(page), (t) => t.includes(`rehearse the restore point of ${db}`), 'the backup activity\'s summary in the event history', 30_000);
      await page.screenshot({ path: join(ARTIFACTS, 'web-ui-run-history.png') });
    } finally {
      await page.close();
      await servers.client.workflow.getHandle(run.id).cancel();
      await servers.client.workflow.getHandle(run.id).result().catch(() => undefined);
    }
  });
});
