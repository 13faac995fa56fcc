import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { routeFinishedJob } from './helpers';

/**
 * The log view's rendering (colours, carriage returns, long logs, keyboard),
 * with the job's event stream mocked: the real builds are in build.spec.ts.
 */

/** Serve a finished job with these messages, and open its log tab. */
async function openMockedLog(
  page: IJupyterLabPageFixture,
  id: string,
  messages: string[]
) {
  const now = new Date().toISOString();
  let body = '';
  messages.forEach((message, i) => {
    const phase = i === messages.length - 1 ? 'ready' : 'building';
    body += `id: ${i + 1}\ndata: ${JSON.stringify({ seq: i + 1, time: now, phase, message })}\n\n`;
  });
  await page.route(`**/r2d/api/builds/${id}/events*`, route =>
    route.fulfill({ status: 200, contentType: 'text/event-stream', body })
  );
  await routeFinishedJob(page, id, 'x:latest', { path: 'x' });
  await page.evaluate(
    id => window.jupyterapp.commands.execute('jupyter-r2d:open-log', { id }),
    id
  );
  const log = page.locator(`.jp-r2d-LogView[data-job="${id}"]`);
  await expect(log).toHaveAttribute('data-phase', 'ready');
  return log;
}

test.describe('Log view rendering', () => {
  test('ANSI colours and styles, carriage returns, other escapes dropped', async ({
    page
  }) => {
    const log = await openMockedLog(page, 'a0c0', [
      '\u001b[31mred\u001b[0m plain \u001b[1;32mbold green\u001b[0m',
      '\u001b[38;5;196mpalette\u001b[0m \u001b[38;2;1;2;3mtrue\u001b[0m',
      '\u001b[34mblue runs over',
      'the line end\u001b[0m',
      'progress 10%\rprogress 100%',
      '\u001b[2K\u001b[1Acleared',
      'done'
    ]);
    const lines = log.locator('.jp-r2d-log-line');
    await expect(lines).toHaveCount(7);
    await expect(lines.nth(0).locator('.ansi-red-fg')).toHaveText('red');
    await expect(
      lines.nth(0).locator('.ansi-green-intense-fg.ansi-bold')
    ).toHaveText('bold green');
    await expect(lines.nth(1).locator('span').first()).toHaveCSS(
      'color',
      'rgb(255, 0, 0)'
    );
    await expect(lines.nth(1).locator('span').nth(1)).toHaveCSS(
      'color',
      'rgb(1, 2, 3)'
    );
    // A colour left open at a line end carries on to the next line.
    await expect(lines.nth(3).locator('.ansi-blue-fg')).toHaveText(
      'the line end'
    );
    await expect(lines.nth(4)).toHaveText('progress 100%');
    await expect(lines.nth(5)).toHaveText('cleared');
    // Copy and download give plain text.
    const text = await page.evaluate(() => {
      const w = window.jupyterapp.shell.currentWidget as any;
      return w.content.text() as string;
    });
    expect(text.split('\n')[0]).toBe('red plain bold green');
    expect(text).not.toContain('\u001b');
  });

  test('a 20,000-line log keeps only the visible lines in the DOM and scrolls by keyboard', async ({
    page
  }) => {
    const count = 20000;
    const messages = Array.from({ length: count }, (_, i) => `row ${i + 1}`);
    const log = await openMockedLog(page, 'b1c1', messages);
    const scroller = log.locator('.jp-r2d-log');
    // Follows the end: the last line is shown, and few lines are rendered.
    await expect(log.locator('.jp-r2d-log-rows')).toContainText(`row ${count}`);
    const rendered = await log.locator('.jp-r2d-log-line').count();
    expect(rendered).toBeGreaterThan(10);
    expect(rendered).toBeLessThan(200);
    await expect(scroller).toHaveAttribute('role', 'log');
    // Keyboard: the log takes focus; Home and End scroll it.
    await scroller.focus();
    await page.keyboard.press('Home');
    await expect(log.locator('.jp-r2d-log-line[data-line="1"]')).toBeVisible();
    await expect(log.locator('.jp-r2d-log-rows')).not.toContainText(
      `row ${count}`
    );
    await page.keyboard.press('End');
    await expect(
      log.locator(`.jp-r2d-log-line[data-line="${count}"]`)
    ).toBeVisible();
  });
});
