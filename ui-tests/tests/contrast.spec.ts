import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as path from 'path';

import {
  BASE,
  jobViaAPI,
  makeRepo,
  openPanel,
  removeImageQuietly,
  ROOT,
  serveDockerfile,
  unique
} from './helpers';

/**
 * The WCAG 2 contrast ratio of each element's text against its effective
 * background (its own and its ancestors' background colours composited, the
 * text colour's alpha too), as `[description, ratio]`.
 */
async function contrasts(
  page: IJupyterLabPageFixture,
  selector: string
): Promise<[string, number][]> {
  return page.locator(selector).evaluateAll(elements => {
    type RGBA = [number, number, number, number];
    const parse = (css: string): RGBA => {
      // rgb()/rgba() in 0-255, or color(srgb ...) in 0-1 (color-mix results).
      const srgb = css.startsWith('color(srgb');
      const n = (css.match(/[\d.]+(e-?\d+)?/g) ?? []).map(Number);
      const scale = srgb ? 255 : 1;
      const alpha = srgb ? (css.includes('/') ? n[3] : 1) : (n[3] ?? 1);
      return [n[0] * scale, n[1] * scale, n[2] * scale, alpha];
    };
    const over = (top: RGBA, below: RGBA): RGBA => [
      top[0] * top[3] + below[0] * (1 - top[3]),
      top[1] * top[3] + below[1] * (1 - top[3]),
      top[2] * top[3] + below[2] * (1 - top[3]),
      1
    ];
    const luminance = (c: RGBA) => {
      const [r, g, b] = c.slice(0, 3).map(v => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    return elements.map(el => {
      const layers: RGBA[] = [];
      for (let node: Element | null = el; node; node = node.parentElement) {
        const bg = parse(getComputedStyle(node).backgroundColor);
        if (bg[3] > 0) {
          layers.push(bg);
        }
        if (bg[3] >= 1) {
          break;
        }
      }
      let background: RGBA = [255, 255, 255, 1];
      for (const layer of layers.reverse()) {
        background = over(layer, background);
      }
      const text = over(parse(getComputedStyle(el).color), background);
      const [l1, l2] = [luminance(text), luminance(background)].sort(
        (a, b) => b - a
      );
      const name = `${el.className || el.tagName} "${el.textContent?.trim()}"`;
      return [name, (l1 + 0.05) / (l2 + 0.05)] as [string, number];
    });
  });
}

/** Every ratio measured, attached to the report. */
const measured: [string, number][] = [];

/** Assert every element of `selector` (at least one) reaches 4.5:1. */
async function expectReadable(
  page: IJupyterLabPageFixture,
  selector: string,
  count = 1
): Promise<void> {
  const found = await contrasts(page, selector);
  measured.push(...found);
  expect(found.length, selector).toBeGreaterThanOrEqual(count);
  const low = found.filter(([, ratio]) => ratio < 4.5);
  expect(low, `below 4.5:1: ${JSON.stringify(low)}`).toEqual([]);
}

test.describe('Contrast under JupyterLab Dark', () => {
  test('badges, phase chips and the error line reach 4.5:1', async ({
    page
  }, testInfo) => {
    await page.theme.setDarkTheme();
    expect(await page.theme.getTheme()).toBe('JupyterLab Dark');

    // An image built and running (repo2docker badge, "in use", run and
    // container markers), from a git tree with a change (the dirty marker).
    const name = unique('r2dui-dark');
    makeRepo(name, serveDockerfile);
    const git = (...args: string[]) =>
      execFileSync(
        'git',
        ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args],
        { cwd: path.join(ROOT, name) }
      );
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    makeRepo(name, serveDockerfile + '# changed\n');
    const broken = unique('r2dui-darkfail');
    makeRepo(broken, `FROM ${BASE}\nRUN echo ${broken} && false\n`);
    const image = `${name}:v1`;
    const job = await jobViaAPI(page, {
      source: { path: name },
      image,
      run: true
    });
    try {
      const panel = await openPanel(page);
      await panel.getByRole('searchbox', { name: 'Filter images' }).fill(name);
      await expect(panel.locator('.jp-r2d-mod-inuse')).toBeVisible();
      await expect(panel.locator('.jp-r2d-container')).not.toHaveCount(0);
      await expectReadable(page, '#jupyter-r2d-images .jp-r2d-badge');
      // In use, run, and the running container's status.
      await expectReadable(page, '#jupyter-r2d-images .jp-r2d-marker', 3);

      await panel
        .locator(`.jp-r2d-image[data-image="${image}"]`)
        .getByRole('button', { name: `Inspect ${image}` })
        .click();
      await expect(page.locator('.jp-r2d-mod-dirty')).toBeVisible();
      await expectReadable(page, '.jp-r2d-InspectView .jp-r2d-marker');

      // A finished run: done steps and the current one.
      await page.evaluate(async id => {
        await window.jupyterapp.commands.execute('jupyter-r2d:open-log', {
          id
        });
      }, job.id);
      const ready = page.locator(`.jp-r2d-LogView[data-job="${job.id}"]`);
      await expect(ready).toHaveAttribute('data-phase', 'ready');
      await expect(ready.locator('li.jp-mod-current')).toHaveCount(1);
      await expectReadable(
        page,
        `.jp-r2d-LogView[data-job="${job.id}"] .jp-r2d-steps li:not([hidden])`,
        4
      );

      // A failed build: the stopped step, those never reached, the failed
      // phase and the error line the jump marks.
      const started = await page.request.post('/r2d/api/builds', {
        data: { source: { path: broken }, image: `${broken}:v1` }
      });
      const failedId = (await started.json()).id;
      await page.evaluate(async id => {
        await window.jupyterapp.commands.execute('jupyter-r2d:open-log', {
          id
        });
      }, failedId);
      const failed = page.locator(`.jp-r2d-LogView[data-job="${failedId}"]`);
      await expect(failed).toHaveAttribute('data-phase', 'failed', {
        timeout: 120000
      });
      await expect(failed.locator('li.jp-mod-stopped')).toHaveCount(1);
      const prefix = `.jp-r2d-LogView[data-job="${failedId}"]`;
      await expectReadable(page, `${prefix} .jp-r2d-steps li:not([hidden])`, 4);
      await expectReadable(page, `${prefix} .jp-r2d-phase`);
      await failed.locator('[data-action="jump-error"]').click();
      await expect(
        failed.locator('.jp-r2d-log-line.jp-mod-marked')
      ).toHaveCount(1);
      await expectReadable(page, `${prefix} .jp-r2d-log-line.jp-mod-marked`);
      await testInfo.attach('contrast-ratios', {
        body: measured.map(([n, r]) => `${r.toFixed(2)}  ${n}`).join('\n'),
        contentType: 'text/plain'
      });
      await testInfo.attach('dark-log', {
        body: await page.screenshot(),
        contentType: 'image/png'
      });
    } finally {
      if (job.container) {
        await page.request.delete(`/r2d/api/containers/${job.container.id}`);
      }
      await removeImageQuietly(page, image);
    }
  });
});
