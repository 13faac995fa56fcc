import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

const PANEL_ID = 'jupyter-r2d-images';

/**
 * Ask the panel for the engine status again (the refresh command).
 */
async function refreshEngine(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('jupyter-r2d:refresh-engine')
  );
}

test.describe('Images panel (foundation)', () => {
  test('opens from the left sidebar and shows the engine available', async ({
    page
  }, testInfo) => {
    const tab = page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`);
    await expect(tab).toBeVisible();
    await expect(tab).toHaveAttribute('title', /Images/);
    await tab.click();

    const panel = page.locator(`#${PANEL_ID}`);
    await expect(panel).toBeVisible();
    await expect(panel.locator('.jp-r2d-title')).toHaveText('Images');
    const engine = panel.locator('.jp-r2d-engine-available');
    await expect(engine).toBeVisible();
    await expect(engine.locator('dd').first()).not.toBeEmpty();
    await expect(panel.locator('.jp-r2d-engine-unavailable')).toHaveCount(0);

    await testInfo.attach('panel', {
      body: await panel.screenshot(),
      contentType: 'image/png'
    });
  });

  test('says Docker is unreachable, with Retry, when the engine is down', async ({
    page
  }) => {
    await page.route('**/r2d/api/engine*', route =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          name: 'buildx',
          available: false,
          version: null,
          builder: null,
          driver: null,
          error:
            'Cannot connect to the Docker daemon at unix:///var/run/docker.sock'
        })
      })
    );
    await page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`).click();
    const panel = page.locator(`#${PANEL_ID}`);
    await refreshEngine(page);
    const banner = panel.locator('.jp-r2d-engine-unavailable');
    await expect(banner).toContainText('Docker is unreachable');
    await expect(banner).toContainText('Cannot connect to the Docker daemon');
    await page.unroute('**/r2d/api/engine*');
    await panel.getByRole('button', { name: /Retry/ }).click();
    await expect(panel.locator('.jp-r2d-engine-available')).toBeVisible();
  });

  test('gives an install hint when the server extension is missing', async ({
    page
  }) => {
    await page.route('**/r2d/api/engine*', route =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'Not Found', reason: null })
      })
    );
    await page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`).click();
    const panel = page.locator(`#${PANEL_ID}`);
    await refreshEngine(page);
    await expect(panel).toContainText('server extension is not installed');
  });
});
