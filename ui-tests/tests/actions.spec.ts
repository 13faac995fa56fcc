import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import {
  BASE,
  buildViaAPI,
  docker,
  makeRepo,
  openFolder,
  openPanel,
  removeImageQuietly,
  ROOT,
  serveDockerfile,
  unique
} from './helpers';

/** The image row of `ref` in the image browser (filtered to its repository). */
async function imageRow(panel: any, repo: string, ref: string) {
  await panel.getByRole('searchbox', { name: 'Filter images' }).fill(repo);
  const row = panel.locator(`.jp-r2d-image[data-image="${ref}"]`);
  await expect(row).toBeVisible();
  return row;
}

test.describe('Build form preview', () => {
  test('shows the buildpack and the Dockerfile repo2docker would build', async ({
    page
  }) => {
    const name = unique('r2dui-preview');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    await panel.getByRole('button', { name: /^Preview the buildpack/ }).click();
    const preview = panel.getByRole('region', { name: 'Build preview' });
    await expect(preview.locator('[data-field="buildpack"]')).toHaveText(
      'DockerBuildPack',
      { timeout: 60000 }
    );
    await expect(preview.locator('.jp-r2d-dockerfile')).toContainText(
      'RUN echo building layer two'
    );
    await preview.getByRole('button', { name: 'Close the preview' }).click();
    await expect(preview).toHaveCount(0);
  });
});

test.describe('Image actions', () => {
  test('inspect shows labels, the dirty commit and the reproduce command', async ({
    page,
    context
  }, testInfo) => {
    const name = unique('r2dui-inspect');
    makeRepo(name, serveDockerfile);
    // A git tree with an uncommitted change: the commit is marked dirty.
    const dir = path.join(ROOT, name);
    const git = (...args: string[]) =>
      execFileSync(
        'git',
        ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args],
        { cwd: dir, encoding: 'utf-8' }
      ).trim();
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    const commit = git('rev-parse', 'HEAD');
    fs.appendFileSync(path.join(dir, 'www', 'index.html'), 'changed\n');
    const job = await buildViaAPI(page, name, `${name}:v1`);
    try {
      const panel = await openPanel(page);
      const row = await imageRow(panel, name, `${name}:v1`);
      await row.getByRole('button', { name: `Inspect ${name}:v1` }).click();

      const view = page.locator('.jp-r2d-InspectView');
      await expect(view.locator('h1')).toHaveText(`${name}:v1`);
      const labels = view.locator('.jp-r2d-labels');
      await expect(
        labels.locator('tr[data-label="jupyter_r2d.source"] td')
      ).toHaveText(name);
      // The job is not in the image (a rebuild gives the same one): the records say it.
      await expect(
        labels.locator('tr[data-label="jupyter_r2d.job"]')
      ).toHaveCount(0);
      await expect(
        view.getByRole('button', { name: `Open the log of job ${job.id}` })
      ).toHaveText(job.id);
      await expect(view.locator('[data-field="commit"]')).toContainText(commit);
      await expect(view.locator('.jp-r2d-mod-dirty')).toHaveText('dirty');
      await expect(view.locator('[data-field="ports"]')).toHaveText('8080/tcp');
      await expect(
        view.locator('.jp-r2d-history tbody tr').first()
      ).toBeVisible();
      const reproduce = view.locator('[data-field="reproduce"]');
      await expect(reproduce).toContainText(
        `repo2docker --no-run --image-name=${name}:v1`
      );
      await testInfo.attach('inspect-view', {
        body: await page.screenshot(),
        contentType: 'image/png'
      });

      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      await view
        .getByRole('button', { name: 'Copy the reproduce command' })
        .click();
      await expect(page.locator('.Toastify__toast').last()).toContainText(
        'Command copied'
      );
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      expect(copied).toBe((await reproduce.textContent())?.trim());
    } finally {
      await removeImageQuietly(page, `${name}:v1`);
    }
  });

  test('run an image from the browser, then stop its container', async ({
    page
  }) => {
    const name = unique('r2dui-runimg');
    makeRepo(name, serveDockerfile);
    await buildViaAPI(page, name, `${name}:v1`);
    let containerId = '';
    try {
      const panel = await openPanel(page);
      const row = await imageRow(panel, name, `${name}:v1`);
      await row.getByRole('button', { name: `Actions for ${name}:v1` }).click();
      await page.getByRole('menuitem', { name: /^Run Image/ }).click();
      const log = page.locator('.jp-r2d-LogView');
      await expect(log).toHaveAttribute('data-phase', 'ready', {
        timeout: 120000
      });
      const jobId = (await log.getAttribute('data-job')) as string;
      const record = await (
        await page.request.get(`/r2d/api/builds/${jobId}`)
      ).json();
      expect(record.source).toBeNull();
      containerId = record.container.id;

      // The Containers section lists it, with its URL and status.
      const item = panel.locator(`.jp-r2d-container[data-job="${jobId}"]`);
      await expect(item).toBeVisible();
      await expect(item).toHaveAttribute('data-status', 'running');
      const link = item.locator('a.jp-r2d-container-url');
      const href = (await link.getAttribute('href')) as string;
      expect(href).toBe(record.container.url);
      expect(await (await page.request.get(href)).text()).toContain(
        `hello from ${name}`
      );

      await item.getByRole('button', { name: /^Stop / }).click();
      await page
        .locator('.jp-Dialog')
        .getByRole('button', { name: 'Stop' })
        .click();
      await expect(item).toHaveCount(0);
      expect(
        docker('ps', '-a', '-q', '--no-trunc', '--filter', `id=${containerId}`)
      ).toBe('');
      containerId = '';
    } finally {
      if (containerId) {
        await page.request.delete(`/r2d/api/containers/${containerId}`);
      }
      await removeImageQuietly(page, `${name}:v1`);
    }
  });

  test('push an image from the browser to a configured registry', async ({
    page
  }) => {
    const registry = process.env.R2D_TEST_REGISTRY || '127.0.0.1:5555';
    const name = unique('r2dui-pushimg');
    const ref = `${registry}/${name}:v1`;
    makeRepo(name, serveDockerfile);
    await buildViaAPI(page, name, ref);
    try {
      const panel = await openPanel(page);
      const row = await imageRow(panel, name, ref);
      await row.getByRole('button', { name: `Actions for ${ref}` }).click();
      await page.getByRole('menuitem', { name: /^Push Image/ }).click();
      const dialog = page.locator('.jp-Dialog');
      await expect(
        dialog.getByRole('combobox', { name: 'Registry' })
      ).toHaveValue('testbed');
      await expect(dialog).toContainText(`Pushed as ${ref}`);
      await dialog.getByRole('button', { name: 'Push', exact: true }).click();
      const log = page.locator('.jp-r2d-LogView');
      await expect(log).toHaveAttribute('data-phase', 'ready', {
        timeout: 120000
      });
      const tags = await page.request.get(
        `http://${registry}/v2/${name}/tags/list`
      );
      expect((await tags.json()).tags).toContain('v1');
    } finally {
      await removeImageQuietly(page, ref);
    }
  });

  test('prune lists the dangling jupyter_r2d images first, then removes them', async ({
    page
  }) => {
    const name = unique('r2dui-prune');
    makeRepo(name, [`FROM ${BASE}`, `RUN echo ${name} one`, ''].join('\n'));
    const first = await buildViaAPI(page, name, `${name}:v1`);
    const dangling = first.image_id as string;
    // The same tag built again leaves the first image dangling (a container keeps the
    // rebuild from removing it as superseded; it is gone again before the prune).
    const holder = docker('create', dangling, 'true');
    makeRepo(name, [`FROM ${BASE}`, `RUN echo ${name} two`, ''].join('\n'));
    try {
      await buildViaAPI(page, name, `${name}:v1`);
    } finally {
      docker('rm', '-f', holder);
    }
    expect(dangling).toMatch(/^sha256:/);
    try {
      const panel = await openPanel(page);
      await panel
        .getByRole('button', { name: 'Prune dangling jupyter_r2d images' })
        .click();
      const dialog = page.locator('.jp-Dialog');
      const planned = dialog.locator(
        `.jp-r2d-prune-list li[data-image-id="${dangling}"]`
      );
      await expect(planned).toBeVisible({ timeout: 60000 });
      // Nothing is removed before the user confirms.
      expect(docker('image', 'inspect', '-f', '{{.Id}}', dangling)).toBe(
        dangling
      );
      await dialog
        .getByRole('button', { name: /^Remove \d+ images?$/ })
        .click();
      await expect(page.locator('.Toastify__toast').last()).toContainText(
        /Removed \d+ images?/
      );
      expect(() =>
        docker('image', 'inspect', '-f', '{{.Id}}', dangling)
      ).toThrow();
      // The tagged image stays.
      expect(docker('images', '-q', `${name}:v1`)).not.toBe('');
    } finally {
      await removeImageQuietly(page, `${name}:v1`);
    }
  });
});

test.describe('Job history', () => {
  test('rebuild with the same settings, then forget the old job', async ({
    page
  }) => {
    const name = unique('r2dui-rebuild');
    makeRepo(name, serveDockerfile);
    const old = await buildViaAPI(page, name, `${name}:v1`);
    try {
      const panel = await openPanel(page);
      const oldItem = panel.locator(`.jp-r2d-job[data-job="${old.id}"]`);
      await expect(oldItem).toBeVisible();
      await oldItem
        .getByRole('button', {
          name: `Rebuild ${name}:v1 with the same settings`
        })
        .click();
      const log = page.locator('.jp-r2d-LogView');
      await expect(log).toHaveAttribute('data-phase', 'ready', {
        timeout: 120000
      });
      const newId = (await log.getAttribute('data-job')) as string;
      expect(newId).not.toBe(old.id);
      const again = await (
        await page.request.get(`/r2d/api/builds/${newId}`)
      ).json();
      expect(again.source).toEqual(old.source);
      expect(again.image).toBe(old.image);
      expect(again.run).toBe(old.run);
      expect(again.push).toBe(old.push);

      await oldItem
        .getByRole('button', { name: `Forget job ${old.id}` })
        .click();
      await expect(oldItem).toHaveCount(0);
      await expect(
        panel.locator(`.jp-r2d-job[data-job="${newId}"]`)
      ).toBeVisible();
      expect(
        (await page.request.get(`/r2d/api/builds/${old.id}`)).status()
      ).toBe(404);
    } finally {
      await removeImageQuietly(page, `${name}:v1`);
    }
  });
});
