import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import {
  BASE,
  findJob,
  makeRepo,
  openFolder,
  openPanel,
  removeImageQuietly,
  ROOT,
  serveDockerfile,
  unique
} from './helpers';

const BUILD_FOLDER = 'Build Image from This Folder';

/** The default image names the server derives too (tests/image_names.json). */
const NAMES: {
  source: { path?: string; url?: string; ref?: string; subdir?: string };
  image: string;
}[] = JSON.parse(
  fs.readFileSync(
    path.join(__dirname, '..', '..', 'tests', 'image_names.json'),
    'utf-8'
  )
).cases;

/** Right-click a folder row of the file browser; returns the open menu. */
async function folderMenu(
  page: IJupyterLabPageFixture,
  name: string
): Promise<Locator> {
  await page.sidebar.openTab('filebrowser');
  await page
    .locator('.jp-DirListing-item[data-isdir="true"]', { hasText: name })
    .click({ button: 'right' });
  const menu = page.locator('.lm-Menu').last();
  await expect(menu).toBeVisible();
  return menu;
}

/** Choose "Build Image from This Folder" on a folder row of the listing. */
async function buildFromMenu(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  const menu = await folderMenu(page, name);
  await menu.getByText(BUILD_FOLDER, { exact: true }).first().click();
  await expect(page.locator('.jp-r2d-folder')).toHaveAttribute(
    'data-folder',
    name
  );
}

/** Pick the git source and type its URL (and ref). */
async function useGit(panel: Locator, url: string, ref = ''): Promise<void> {
  await panel.getByRole('radio', { name: 'Git repository' }).check();
  await panel.getByRole('textbox', { name: 'Git URL' }).fill(url);
  await panel.getByRole('textbox', { name: 'Git ref' }).fill(ref);
}

test.describe('Build form', () => {
  test('the folder context menu has "Build Image from This Folder" once', async ({
    page
  }) => {
    const name = unique('r2dui-menu');
    makeRepo(name, serveDockerfile);
    await page.filebrowser.openHomeDirectory();
    await page.filebrowser.refresh();
    const menu = await folderMenu(page, name);
    await expect(
      menu.locator('.lm-Menu-item', { hasText: BUILD_FOLDER })
    ).toHaveCount(1);
    await page.keyboard.press('Escape');
    // The blank part of the listing (the folder open) has it once too.
    await page
      .locator('.jp-DirListing-content')
      .click({ button: 'right', position: { x: 20, y: 150 } });
    await expect(
      page.locator('.lm-Menu .lm-Menu-item', { hasText: BUILD_FOLDER })
    ).toHaveCount(1);
    await page.keyboard.press('Escape');
  });

  test('"Build Image from This Folder" selects that folder over a git source, and Build builds it', async ({
    page
  }) => {
    const name = unique('r2dui-menufolder');
    makeRepo(name, `FROM ${BASE}\nRUN echo ${name}\n`);
    await page.filebrowser.openHomeDirectory();
    await page.filebrowser.refresh();
    const panel = await openPanel(page);
    await useGit(panel, 'https://example.org/org/quiz.git', 'v1.0');

    const menu = await folderMenu(page, name);
    // (first: today's single item, not the duplicate its test is about)
    await menu.getByText(BUILD_FOLDER, { exact: true }).first().click();
    await expect(
      panel.getByRole('radio', { name: 'Folder open in the file browser' })
    ).toBeChecked();
    await expect(panel.locator('.jp-r2d-folder')).toHaveAttribute(
      'data-folder',
      name
    );
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    const job = await findJob(page, `${name}:latest`);
    expect(job.source).toEqual({ path: name });
    await removeImageQuietly(page, `${name}:latest`);
  });

  test('a name follows its source: a typed one stays with the source it was typed for', async ({
    page
  }) => {
    const first = unique('r2dui-first');
    const second = unique('r2dui-second');
    makeRepo(first, serveDockerfile);
    makeRepo(second, serveDockerfile);
    await page.filebrowser.openHomeDirectory();
    await page.filebrowser.refresh();
    const panel = await openPanel(page);
    const image = panel.locator('input[name="image"]');

    // A name typed for the first folder...
    await buildFromMenu(page, first);
    await image.fill(`${first}-typed:v7`);
    // ... is not the name of another folder (context menu) ...
    await buildFromMenu(page, second);
    await expect(image).toHaveValue(`${second}:latest`);
    // ... nor of a git source (the form), which derives its own.
    await useGit(panel, 'https://example.org/org/quiz.git');
    await expect(image).toHaveValue('quiz:latest');

    // Back on the first folder, its typed name is there again.
    await buildFromMenu(page, first);
    await expect(image).toHaveValue(`${first}-typed:v7`);
    // An emptied name shows the derived one as a hint (the server derives it).
    await image.fill('');
    await expect(image).toHaveAttribute('placeholder', `${first}:latest`);
  });

  test("default image names are the server's (tests/image_names.json)", async ({
    page
  }) => {
    const panel = await openPanel(page);
    const image = panel.locator('input[name="image"]');
    // Git sources at each ref, the form's own fields.
    for (const { source, image: expected } of NAMES) {
      if (source.url === undefined) {
        continue;
      }
      await useGit(panel, source.url, source.ref ?? '');
      await panel
        .getByRole('textbox', { name: 'Subdirectory' })
        .fill(source.subdir ?? '');
      await expect(image, JSON.stringify(source)).toHaveValue(expected);
    }
    // Folders (without a subdir: the form builds a folder whole).
    await panel
      .getByRole('radio', { name: 'Folder open in the file browser' })
      .check();
    for (const { source, image: expected } of NAMES) {
      if (source.path === undefined || source.subdir !== undefined) {
        continue;
      }
      fs.mkdirSync(path.join(ROOT, source.path), { recursive: true });
      await page.sidebar.openTab('filebrowser');
      if (source.path) {
        await page.filebrowser.openDirectory(source.path);
      } else {
        await page.filebrowser.openHomeDirectory();
      }
      await openPanel(page);
      await expect(panel.locator('.jp-r2d-folder')).toHaveAttribute(
        'data-folder',
        source.path
      );
      await expect(image, JSON.stringify(source)).toHaveValue(expected);
    }
  });

  test('errors name the field as the form labels it, never an API path', async ({
    page
  }) => {
    const name = unique('r2dui-errors');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    const error = panel.locator('.jp-r2d-buildform > .jp-r2d-field-error');
    await panel.locator('input[name="push"]').check();
    await panel
      .getByRole('combobox', { name: 'Registry' })
      .selectOption('__inline__');
    await panel.getByRole('textbox', { name: 'Registry server' }).fill('a/b');
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(error).toHaveText(/^Registry server: must be a host\[:port\]/);
    await expect(error).not.toContainText('registry.');

    await panel.locator('input[name="push"]').uncheck();
    await useGit(panel, 'ftp://example.org/quiz.git');
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(error).toHaveText(/^Git URL: /);
    await expect(error).not.toContainText('source.');
  });

  test('a registry error goes when Push is unticked (and a URL error with the git source)', async ({
    page
  }) => {
    const name = unique('r2dui-stale');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    const error = panel.locator('.jp-r2d-buildform > .jp-r2d-field-error');
    await panel.locator('input[name="push"]').check();
    await panel
      .getByRole('combobox', { name: 'Registry' })
      .selectOption('__inline__');
    await panel.getByRole('textbox', { name: 'Registry server' }).fill('a/b');
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(error).toContainText('host[:port]');
    await panel.locator('input[name="push"]').uncheck();
    await expect(error).toHaveCount(0);

    await useGit(panel, 'ftp://example.org/quiz.git');
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    await expect(error).toContainText('only https');
    await panel
      .getByRole('radio', { name: 'Folder open in the file browser' })
      .check();
    await expect(error).toHaveCount(0);
  });

  test('push to the open registry without a login', async ({ page }) => {
    const registry = process.env.R2D_TEST_REGISTRY || '127.0.0.1:5555';
    const name = unique('r2dui-open');
    makeRepo(name, serveDockerfile);
    const panel = await openFolder(page, name);
    await panel.locator('input[name="image"]').fill(`${name}:v1`);
    await panel.locator('input[name="push"]').check();
    await panel
      .getByRole('combobox', { name: 'Registry' })
      .selectOption('__inline__');
    await panel
      .getByRole('textbox', { name: 'Registry server' })
      .fill(registry);
    await panel.getByRole('button', { name: 'Build', exact: true }).click();
    const log = page.locator('.jp-r2d-LogView');
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 120000
    });
    const tags = await page.request.get(
      `http://${registry}/v2/${name}/tags/list`
    );
    expect(tags.status()).toBe(200);
    expect((await tags.json()).tags).toContain('v1');
    await removeImageQuietly(page, `${registry}/${name}:v1`);
  });

  test('the preview follows the Dockerfile', async ({ page }) => {
    const name = unique('r2dui-preview');
    const dockerfile = (word: string) => `FROM ${BASE}\nRUN echo ${word}\n`;
    makeRepo(name, dockerfile('first-version'));
    const panel = await openFolder(page, name);
    await panel.getByRole('button', { name: /^Preview the buildpack/ }).click();
    const shown = panel.getByLabel('Rendered Dockerfile');
    await expect(shown).toContainText('first-version');

    // Saved in JupyterLab (an editor's save): the preview follows.
    await page.evaluate(
      ([file, content]) =>
        window.jupyterapp.serviceManager.contents.save(file, {
          type: 'file',
          format: 'text',
          content
        }),
      [`${name}/Dockerfile`, dockerfile('second-version')]
    );
    await expect(shown).toContainText('second-version');

    // Changed elsewhere (a terminal, say): the form's focus refreshes it.
    // (the focus leaves the form, to a terminal in the main area, say)
    await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
    fs.writeFileSync(
      path.join(ROOT, name, 'Dockerfile'),
      dockerfile('third-version')
    );
    await panel.locator('input[name="image"]').focus();
    await expect(shown).toContainText('third-version');
    await expect(shown).not.toContainText('second-version');
  });
});
