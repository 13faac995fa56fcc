import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';

const PANEL_ID = 'jupyter-r2d-images';
const BASE = process.env.R2D_TEST_BASE_IMAGE || 'r2d-test/base:latest';

/** A unique image repository name for this run. */
function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** Run the docker CLI (test setup and cleanup only). */
function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf-8' }).trim();
}

/*
 * FIXME: at the time of writing the server's engine answers GET/DELETE
 * images with NotImplementedError (500), so the browser shows "Cannot list
 * images". Turn `test.fixme` back into `test` once the engine lists images.
 */
test.describe('Image browser', () => {
  test.fixme('lists a local image and removes it after confirmation', async ({
    page
  }, testInfo) => {
    const repo = unique('r2dui-img');
    docker('tag', BASE, `${repo}:v1`);
    try {
      await page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`).click();
      const panel = page.locator(`#${PANEL_ID}`);
      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(repo);
      const group = panel.locator(`.jp-r2d-image-group[data-repo="${repo}"]`);
      await expect(group).toBeVisible();
      await expect(group).toContainText('v1');
      await testInfo.attach('image-browser', {
        body: await panel.screenshot(),
        contentType: 'image/png'
      });

      await group.getByRole('button', { name: `Remove ${repo}:v1` }).click();
      await page
        .locator('.jp-Dialog')
        .getByRole('button', { name: 'Remove' })
        .click();
      await expect(group).toHaveCount(0);
      expect(docker('images', '-q', `${repo}:v1`)).toBe('');
    } finally {
      try {
        docker('rmi', `${repo}:v1`);
      } catch {
        // already removed by the test
      }
    }
  });

  test.fixme('explains why an image used by a container cannot be removed', async ({
    page
  }) => {
    const repo = unique('r2dui-inuse');
    docker('tag', BASE, `${repo}:v1`);
    const container = docker('run', '-d', `${repo}:v1`, 'sleep', '300');
    try {
      await page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`).click();
      const panel = page.locator(`#${PANEL_ID}`);
      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(repo);
      const group = panel.locator(`.jp-r2d-image-group[data-repo="${repo}"]`);
      await expect(group).toContainText('in use');
      await group.getByRole('button', { name: `Remove ${repo}:v1` }).click();
      await expect(page.locator('.jp-Dialog')).toContainText(
        'used by a container'
      );
      await page
        .locator('.jp-Dialog')
        .getByRole('button', { name: 'Ok' })
        .click();
      expect(docker('images', '-q', `${repo}:v1`)).not.toBe('');
    } finally {
      docker('rm', '-f', container);
      docker('rmi', `${repo}:v1`);
    }
  });
});
