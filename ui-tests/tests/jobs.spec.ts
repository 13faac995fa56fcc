import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import {
  BASE,
  buildViaAPI,
  jobViaAPI,
  makeRepo,
  openFolder,
  openPanel,
  removeImageQuietly,
  unique
} from './helpers';

/** A one-step Dockerfile of its own (no cache hit from another test). */
function quickDockerfile(name: string): string {
  return `FROM ${BASE}\nRUN echo ${name}\n`;
}

/** How many notifications this page shows whose message contains `text`. */
async function countNotifications(
  page: IJupyterLabPageFixture,
  text: string
): Promise<number> {
  return (await page.notifications).filter(n => n.message.includes(text))
    .length;
}

/** Reload the page (a log tab, not the launcher, is shown) and wait for its
 * layout to be restored. */
async function reload(page: IJupyterLabPageFixture): Promise<void> {
  await page.reload({ waitForIsReady: false });
  await page.evaluate(() => window.jupyterapp.restored);
}

/** The log tabs the layout restorer keeps for the next load. */
async function restoredLogs(page: IJupyterLabPageFixture): Promise<string[]> {
  return page.evaluate(async () => {
    const db: any = await (window as any).galata.getPlugin(
      '@jupyterlab/apputils-extension:state'
    );
    return (await db.list('jupyter-r2d-log')).ids;
  });
}

/** Open a job's log tab through the command the restorer uses. */
async function openLog(page: IJupyterLabPageFixture, id: string) {
  await page.evaluate(async id => {
    await window.jupyterapp.commands.execute('jupyter-r2d:open-log', { id });
  }, id);
  return page.locator(`.jp-r2d-LogView[data-job="${id}"]`);
}

test.describe('Job notifications', () => {
  test('a live build is announced once; a reload or opening its log again is not', async ({
    page
  }) => {
    const name = unique('r2dui-notify');
    const image = `${name}:v1`;
    makeRepo(name, quickDockerfile(name));
    try {
      const panel = await openFolder(page, name);
      await panel.locator('input[name="image"]').fill(image);
      await panel.getByRole('button', { name: 'Build', exact: true }).click();
      const log = page.locator('.jp-r2d-LogView');
      await expect(log).toHaveAttribute('data-phase', 'ready', {
        timeout: 120000
      });
      const message = `Build of ${image} succeeded`;
      await expect.poll(() => countNotifications(page, message)).toBe(1);
      const jobId = (await log.getAttribute('data-job')) as string;
      // The log's end and the job list both tell the end: still one.
      await expect(
        panel.locator(`.jp-r2d-job[data-job="${jobId}"]`)
      ).toHaveAttribute('data-status', 'succeeded');
      await page.waitForTimeout(1000);
      expect(await countNotifications(page, message)).toBe(1);

      // The restored log tab replays the job's events: no toast.
      await reload(page);
      const restored = page.locator(`.jp-r2d-LogView[data-job="${jobId}"]`);
      await expect(restored).toHaveAttribute('data-phase', 'ready');
      // The sidebar is restored open.
      const panelAgain = page.locator('#jupyter-r2d-images');
      await expect(panelAgain).toBeVisible();
      const row = panelAgain.locator(`.jp-r2d-job[data-job="${jobId}"]`);
      await expect(row).toHaveAttribute('data-status', 'succeeded');
      await page.waitForTimeout(1000);
      expect(await countNotifications(page, message)).toBe(0);

      // Nor does opening the finished job's log from the list.
      await page.evaluate(() => window.jupyterapp.shell.currentWidget?.close());
      await expect(restored).toHaveCount(0);
      await row
        .getByRole('button', { name: `Open the log of ${image}` })
        .click();
      await expect(restored).toHaveAttribute('data-phase', 'ready');
      await page.waitForTimeout(1000);
      expect(await countNotifications(page, message)).toBe(0);
    } finally {
      await removeImageQuietly(page, image);
    }
  });
});

test.describe('Job log view', () => {
  test('a push-only job has no Open URL; disabled buttons look disabled', async ({
    page
  }) => {
    const registry = process.env.R2D_TEST_REGISTRY || '127.0.0.1:5555';
    const name = unique('r2dui-pushonly');
    const ref = `${registry}/${name}:v1`;
    makeRepo(name, quickDockerfile(name));
    await buildViaAPI(page, name, ref);
    try {
      const job = await jobViaAPI(page, {
        source: null,
        image: ref,
        push: true,
        registry: 'testbed'
      });
      expect(job.container).toBeNull();
      const log = await openLog(page, job.id);
      await expect(log).toHaveAttribute('data-phase', 'ready');
      await expect(log.locator('[data-action="open-url"]')).toBeHidden();

      // The job is over: Cancel is disabled, and looks it next to Copy log.
      const cancel = log.locator('[data-action="cancel"]');
      await expect(cancel).toBeDisabled();
      await expect(cancel).toHaveCSS('cursor', 'not-allowed');
      const opacity = async (button: typeof cancel) =>
        Number(await button.evaluate(el => getComputedStyle(el).opacity));
      expect(await opacity(cancel)).toBeLessThanOrEqual(0.5);
      expect(await opacity(log.locator('[data-action="copy"]'))).toBe(1);

      // So does the panel's Build button while the image name is invalid.
      const panel = await openFolder(page, name);
      await panel.locator('input[name="image"]').fill('Not A Name');
      const build = panel.getByRole('button', { name: 'Build', exact: true });
      await expect(build).toBeDisabled();
      expect(await opacity(build)).toBeLessThanOrEqual(0.5);
    } finally {
      await removeImageQuietly(page, ref);
    }
  });

  test('a restored log tab of a job the server forgot says so and offers to close', async ({
    page
  }) => {
    const name = unique('r2dui-forgot');
    const image = `${name}:v1`;
    makeRepo(name, quickDockerfile(name));
    const job = await buildViaAPI(page, name, image);
    try {
      // The reload restores the tab once the workspace (debounced) has it.
      const saved = page.waitForResponse(
        r =>
          r.url().includes('/api/workspaces') &&
          r.request().method() === 'PUT' &&
          (r.request().postData() ?? '').includes(job.id)
      );
      const log = await openLog(page, job.id);
      await expect(log).toHaveAttribute('data-phase', 'ready');
      await saved;
      const forgot = await page.request.delete(`/r2d/api/builds/${job.id}`);
      expect(forgot.status()).toBe(204);

      await reload(page);
      const notice = log.getByRole('alert');
      await expect(notice).toContainText(
        'This job is no longer known to the server'
      );
      await expect(log.locator('.jp-r2d-phasebar')).toBeHidden();
      // The restorer keeps the tab for the next load until it is closed.
      const key = `jupyter-r2d-log:${job.id}`;
      expect(await restoredLogs(page)).toContain(key);
      await notice.getByRole('button', { name: 'Close this tab' }).click();
      await expect(page.locator(`#jupyter-r2d-log-${job.id}`)).toHaveCount(0);
      await expect.poll(() => restoredLogs(page)).not.toContain(key);
    } finally {
      await removeImageQuietly(page, image);
    }
  });
});

test.describe('Status bar', () => {
  test('counts running and queued builds apart', async ({ page }) => {
    // The test server runs two builds at once (max_concurrent_builds): the
    // third waits in the queue.
    const ids: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const name = unique(`r2dui-queue${i}`);
        makeRepo(name, `FROM ${BASE}\nRUN echo ${name} && sleep 60\n`);
        const started = await page.request.post('/r2d/api/builds', {
          data: { source: { path: name }, image: `${name}:v1` }
        });
        expect(started.status()).toBe(202);
        ids.push((await started.json()).id);
      }
      await expect
        .poll(async () => {
          const jobs = (
            await (await page.request.get('/r2d/api/builds')).json()
          ).builds;
          return jobs
            .filter((j: any) => ids.includes(j.id))
            .map((j: any) => j.status)
            .sort()
            .join(',');
        })
        .toBe('queued,running,running');
      await openPanel(page);
      await expect(page.locator('.jp-r2d-StatusItem')).toHaveText(
        '2 builds running, 1 queued'
      );
    } finally {
      for (const id of ids) {
        await page.request.post(`/r2d/api/builds/${id}/cancel`);
      }
    }
  });
});

test.describe('Dates', () => {
  test('jobs, images and the inspect view show the time of day', async ({
    page
  }) => {
    const name = unique('r2dui-dates');
    const image = `${name}:v1`;
    makeRepo(name, quickDockerfile(name));
    const job = await buildViaAPI(page, name, image);
    try {
      /** The time of day of an ISO time, as this browser writes it. */
      const timeOfDay = (iso: string) =>
        page.evaluate(
          iso =>
            new Intl.DateTimeFormat(undefined, { timeStyle: 'short' }).format(
              Date.parse(iso)
            ),
          iso
        );
      const expectDate = async (time: any) => {
        const iso = (await time.getAttribute('datetime')) as string;
        expect(Date.parse(iso)).not.toBeNaN();
        await expect(time).toContainText(await timeOfDay(iso));
        // The exact time (with seconds) on hover.
        await expect(time).toHaveAttribute('title', /\d:\d\d:\d\d/);
        return iso;
      };

      const panel = await openPanel(page);
      const jobTime = panel.locator(`.jp-r2d-job[data-job="${job.id}"] time`);
      expect(await expectDate(jobTime)).toBe(job.created);

      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(name);
      const row = panel.locator(`.jp-r2d-image[data-image="${image}"]`);
      await expectDate(row.locator('.jp-r2d-image-meta time'));

      await row.getByRole('button', { name: `Inspect ${image}` }).click();
      const view = page.locator('.jp-r2d-InspectView');
      await expectDate(view.locator('.jp-r2d-facts time').first());
      await expectDate(view.locator('.jp-r2d-history time').first());
    } finally {
      await removeImageQuietly(page, image);
    }
  });
});
