import { expect, test } from '@jupyterlab/galata';

import {
  authRegistry,
  BASE,
  docker,
  findJob,
  jobViaAPI,
  makeRepo,
  openFolder,
  removeImageQuietly,
  serveDockerfile,
  unique
} from './helpers';

/** Steps of the reload test's build (each echoes one line, then sleeps). */
const STEPS = 20;

test.describe('Build from the file browser', () => {
  test('build + run: the log streams, the phase bar reaches ready and the URL answers', async ({
    page,
    context
  }, testInfo) => {
    const name = unique('r2dui-run');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    await panel.locator('input[name="run"]').check();
    await panel.getByRole('button', { name: 'Build', exact: true }).click();

    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toBeVisible();
    const rows = log.locator('.jp-r2d-log-rows');
    // The log streams while the job runs.
    await expect(rows).toContainText('building layer two', { timeout: 120000 });
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    await expect(
      log.locator('.jp-r2d-steps li[data-phase="ready"]')
    ).toHaveClass(/jp-mod-current/);
    await expect(rows).toContainText('Ready');
    const job = await findJob(page, `${name}:v1`);
    expect(job.status).toBe('succeeded');
    expect(job.container?.url).toBeTruthy();

    try {
      // The URL button opens the running container's page.
      const opened = context.waitForEvent('page');
      await log.locator('[data-action="open-url"]').click();
      const site = await opened;
      await site.waitForLoadState();
      expect(site.url()).toBe(job.container.url);
      await expect(site.locator('body')).toContainText(`hello from ${name}`);
      await site.close();

      await testInfo.attach('log-view', {
        body: await page.screenshot(),
        contentType: 'image/png'
      });
      await testInfo.attach('panel-with-job', {
        body: await panel.screenshot(),
        contentType: 'image/png'
      });
    } finally {
      await page.request.delete(
        `/r2d/api/containers/${encodeURIComponent(job.container.id)}`
      );
      await removeImageQuietly(page, job.image);
    }
  });

  test('a failing build shows the error line (jump to error) and a failure notification', async ({
    page
  }) => {
    const name = unique('r2dui-fail');
    makeRepo(
      name,
      [
        `FROM ${BASE}`,
        // Unique to this run (never from the cache): 300 lines of output.
        `RUN echo ${name}; i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "filler $i"; done`,
        'RUN echo about to fail && exit 1',
        ''
      ].join('\n')
    );
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toHaveAttribute('data-phase', 'failed', {
      timeout: 120000
    });
    await expect(page.locator('.Toastify__toast').first()).toContainText(
      /failed/i
    );
    const rows = log.locator('.jp-r2d-log-rows');
    // Scroll the log to its top, away from the error...
    await log.locator('.jp-r2d-log').hover();
    await page.mouse.wheel(0, -1000000);
    await expect(rows).toContainText('filler 1');
    await expect(rows).not.toContainText('ERROR');
    // ... then jump back to the first error line.
    const jump = log.locator('[data-action="jump-error"]');
    await expect(jump).toBeEnabled();
    await jump.click();
    await expect(rows).toContainText('ERROR: [3/3] RUN echo about to fail');
    await expect(log.locator('.jp-r2d-log-line.jp-mod-marked')).toHaveText(
      /^ERROR: \[3\/3\] RUN echo about to fail/
    );
    await expect(rows).toContainText('about to fail');
  });

  test('cancel a build: the job ends cancelled', async ({ page }) => {
    const name = unique('r2dui-cancel');
    makeRepo(
      name,
      [`FROM ${BASE}`, `RUN echo ${name} && sleep 60`, ''].join('\n')
    );
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    const log = page.locator('.jp-r2d-LogView');
    // Mid-build: the sleeping step has started.
    await expect(log.locator('.jp-r2d-log-rows')).toContainText(
      `echo ${name}`,
      {
        timeout: 120000
      }
    );
    await log.locator('[data-action="cancel"]').click();
    await expect(log).toHaveAttribute('data-phase', 'cancelled', {
      timeout: 60000
    });
    await expect(log.locator('[data-action="cancel"]')).toBeDisabled();
    await expect(
      panel.locator('.jp-r2d-job[data-status="cancelled"]').first()
    ).toBeVisible();
    const job = await findJob(page, `${name}:v1`);
    expect(job.status).toBe('cancelled');
  });

  test('push to the auth registry with a typed password leaves no trace of it', async ({
    page
  }) => {
    const { server: registry, username: user, password } = authRegistry();
    const name = unique('r2dui-push');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${registry}/${name}:v1`);
    await panel.locator('input[name="push"]').check();
    await panel
      .getByRole('combobox', { name: 'Registry' })
      .selectOption('__inline__');
    await panel.locator('input[name="server"]').fill(registry);
    await panel.locator('input[name="username"]').fill(user);
    await panel.locator('input[name="password"]').fill(password);
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(panel.locator('input[name="password"]')).toHaveValue('');
    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    const jobId = (await log.getAttribute('data-job')) as string;

    // The registry has the image (its HTTP API, with the test credentials).
    const auth = Buffer.from(`${user}:${password}`).toString('base64');
    const tags = await page.request.get(
      `http://${registry}/v2/${name}/tags/list`,
      { headers: { Authorization: `Basic ${auth}` } }
    );
    expect(tags.status()).toBe(200);
    expect((await tags.json()).tags).toContain('v1');

    // The password is nowhere: page text and markup, browser storage, the
    // log as shown and as stored, the job list.
    expect(await page.locator('body').innerText()).not.toContain(password);
    expect(await page.content()).not.toContain(password);
    const storage = await page.evaluate(
      () => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)
    );
    expect(storage).not.toContain(password);
    const shown = await page.evaluate(id => {
      const app = (window as any).jupyterapp;
      for (const w of app.shell.widgets('main')) {
        if (w.id === `jupyter-r2d-log-${id}`) {
          return (w.content.lines as string[]).join('\n');
        }
      }
      return null;
    }, jobId);
    expect(shown).toContain('Push');
    expect(shown).not.toContain(password);
    const events = await page.request.get(`/r2d/api/builds/${jobId}/events`);
    expect(await events.text()).not.toContain(password);
    const jobs = await page.request.get('/r2d/api/builds');
    expect(await jobs.text()).not.toContain(password);
    await removeImageQuietly(page, `${registry}/${name}:v1`);
  });

  test('build from a private base image with a registry login, without pushing', async ({
    page
  }) => {
    const login = authRegistry();
    const name = unique('r2dui-private');
    const local = `${name}-base:1`;
    const base = `${login.server}/${local}`;
    // The base image goes to the password registry only, not kept here.
    docker('tag', BASE, local);
    await jobViaAPI(page, {
      source: null,
      image: local,
      push: true,
      registry: login
    });
    docker('rmi', local, base);
    makeRepo(name, `FROM ${base}\nCOPY www /www\n`);

    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    await panel.getByText('Advanced').click();
    await panel.locator('input[name="pull-login"]').check();
    await panel
      .getByRole('combobox', { name: 'Registry' })
      .selectOption('__inline__');
    await panel.locator('input[name="server"]').fill(login.server);
    await panel.locator('input[name="username"]').fill(login.username);
    await panel.locator('input[name="password"]').fill(login.password);
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(panel.locator('input[name="password"]')).toHaveValue('');
    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    // Built here from the private base, and not pushed anywhere.
    expect(
      docker('image', 'inspect', '--format', '{{.Id}}', `${name}:v1`)
    ).toMatch(/^sha256:/);
    const auth = Buffer.from(`${login.username}:${login.password}`).toString(
      'base64'
    );
    const tags = await page.request.get(
      `http://${login.server}/v2/${name}/tags/list`,
      { headers: { Authorization: `Basic ${auth}` } }
    );
    expect(tags.status()).toBe(404);
    expect(await page.content()).not.toContain(login.password);

    // A rebuild asks for the login again (it was used once, not kept).
    const first = (await log.getAttribute('data-job')) as string;
    await panel
      .locator(`.jp-r2d-job[data-job="${first}"]`)
      .getByRole('button', {
        name: `Rebuild ${name}:v1 with the same settings`
      })
      .click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('type it again');
    await dialog.locator('input[name="password"]').fill(login.password);
    await dialog.getByRole('button', { name: 'Rebuild', exact: true }).click();
    const again = page.locator(`.jp-r2d-LogView:not([data-job="${first}"])`);
    await expect(again).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    await removeImageQuietly(page, `${name}:v1`);
    await removeImageQuietly(page, base);
  });

  test('a reload mid-build resumes the log without lost or duplicated lines', async ({
    page
  }) => {
    const name = unique('r2dui-reload');
    // The first step is unique to this run, so no step comes from the cache.
    const steps = Array.from(
      { length: STEPS },
      (_, i) => `RUN echo line-${i} && sleep 0.5`
    );
    makeRepo(
      name,
      [`FROM ${BASE}`, `RUN echo ${name}`, ...steps, ''].join('\n')
    );
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    // JupyterLab saves the layout (with the log tab) a moment after it
    // changes; reload once it is saved, as a user's reload would find it.
    const saved = page.waitForRequest(
      request =>
        request.method() === 'PUT' &&
        request.url().includes('/api/workspaces') &&
        (request.postData() ?? '').includes('jupyter-r2d-log'),
      { timeout: 60000 }
    );
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    const log = page.locator('.jp-r2d-LogView');
    await expect(log.locator('.jp-r2d-log-rows')).toContainText('line-0', {
      timeout: 120000
    });
    await saved;
    const jobId = (await log.getAttribute('data-job')) as string;
    const before = await (
      await page.request.get(`/r2d/api/builds/${jobId}`)
    ).json();
    expect(before.status).toBe('running'); // the reload really is mid-build
    // (the restored log tab, not the Launcher, is the active tab)
    await page.reload({ waitForIsReady: false });
    const restored = page.locator(`.jp-r2d-LogView[data-job="${jobId}"]`);
    await expect(restored).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    const rows = await page.evaluate(id => {
      const app = (window as any).jupyterapp;
      for (const w of app.shell.widgets('main')) {
        if (w.id === `jupyter-r2d-log-${id}`) {
          return w.content.lines as string[];
        }
      }
      return [];
    }, jobId);
    // Exactly the server's log: every event's lines once, in order.
    const stream = await page.request.get(`/r2d/api/builds/${jobId}/events`);
    const expected = (await stream.text())
      .split('\n')
      .filter(l => l.startsWith('data: '))
      .flatMap(l => String(JSON.parse(l.slice(6)).message).split('\n'));
    expect(expected.length).toBeGreaterThan(2 * STEPS);
    expect(rows).toEqual(expected);
    for (let i = 0; i < STEPS; i++) {
      expect(rows.filter(l => l.includes(`echo line-${i} `)).length).toBe(1);
    }
    await removeImageQuietly(page, `${name}:v1`);
  });
});
