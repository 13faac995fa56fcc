import { expect, test } from '@jupyterlab/galata';

import {
  buildViaAPI,
  docker,
  makeImage,
  makeRepo,
  openPanel,
  removeImageQuietly,
  serveDockerfile,
  unique
} from './helpers';

test.describe('Image browser', () => {
  test('shows a new image with its repo2docker badge and removes it after confirmation', async ({
    page
  }, testInfo) => {
    const name = unique('r2dui-img');
    makeRepo(name, serveDockerfile);
    await buildViaAPI(page, name, `${name}:v1`);
    try {
      const panel = await openPanel(page);
      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(name);
      const group = panel.locator(`.jp-r2d-image-group[data-repo="${name}"]`);
      await expect(group).toBeVisible();
      await expect(group).toContainText('v1');
      const badge = group.locator('.jp-r2d-badge');
      await expect(badge).toHaveText('repo2docker');
      await expect(badge).toHaveAttribute('title', new RegExp(name));
      await testInfo.attach('image-browser', {
        body: await panel.screenshot(),
        contentType: 'image/png'
      });

      await group
        .getByRole('button', { name: `Actions for ${name}:v1` })
        .click();
      await page.getByRole('menuitem', { name: /^Remove Image/ }).click();
      const dialog = page.locator('.jp-Dialog');
      await expect(dialog).toContainText(`${name}:v1`);
      await dialog.getByRole('button', { name: 'Remove' }).click();
      await expect(group).toHaveCount(0);
      expect(docker('images', '-q', `${name}:v1`)).toBe('');
    } finally {
      await removeImageQuietly(page, `${name}:v1`);
    }
  });

  test('explains why an image used by a container cannot be removed', async ({
    page
  }) => {
    const repo = unique('r2dui-inuse');
    makeImage(`${repo}:v1`);
    const container = docker('run', '-d', `${repo}:v1`, 'sleep', '300');
    try {
      const panel = await openPanel(page);
      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(repo);
      const group = panel.locator(`.jp-r2d-image-group[data-repo="${repo}"]`);
      await expect(group).toContainText('in use');
      // The row's context menu (right click) has the same actions.
      await group.locator(`.jp-r2d-image[data-image="${repo}:v1"]`).click({
        button: 'right'
      });
      await page.getByRole('menuitem', { name: /^Remove Image/ }).click();
      const dialog = page.locator('.jp-Dialog');
      await expect(dialog).toContainText('used by a container');
      await dialog.getByRole('button', { name: 'Ok' }).click();
      await expect(dialog).toHaveCount(0);
      expect(docker('images', '-q', `${repo}:v1`)).not.toBe('');
    } finally {
      docker('rm', '-f', container);
      docker('rmi', `${repo}:v1`);
    }
  });
});
