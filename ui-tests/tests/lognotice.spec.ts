import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { routeFinishedJob } from './helpers';

/**
 * What the log view shows of push progress and of the server's notices,
 * with the job's event stream mocked (the real push and BuildKit's limits
 * are tested through the API in tests/test_api_logs.py).
 */

type Event = { [key: string]: unknown };

/**
 * Serve a job's events, only the first `served.count` of them, each request
 * from its `Last-Event-ID` on (the view reconnects until the terminal event).
 */
async function routeEvents(
  page: IJupyterLabPageFixture,
  id: string,
  events: Event[],
  served: { count: number }
): Promise<void> {
  const now = new Date().toISOString();
  await page.route(`**/r2d/api/builds/${id}/events*`, route => {
    const after = Number(route.request().headers()['last-event-id'] ?? 0);
    let body = '';
    events.slice(0, served.count).forEach((event, i) => {
      const seq = i + 1;
      if (seq > after) {
        const data = JSON.stringify({ seq, time: now, ...event });
        body += `id: ${seq}\ndata: ${data}\n\n`;
      }
    });
    return route.fulfill({
      status: 200,
      contentType: 'text/event-stream',
      body
    });
  });
}

async function openLog(page: IJupyterLabPageFixture, id: string) {
  await page.evaluate(
    id => window.jupyterapp.commands.execute('jupyter-r2d:open-log', { id }),
    id
  );
  return page.locator(`.jp-r2d-LogView[data-job="${id}"]`);
}

test.describe('Log view progress and notices', () => {
  test('push progress shows bytes with units, and nothing once the push is done', async ({
    page
  }) => {
    const id = 'c0ffee000001';
    const image = '127.0.0.1:5555/course:1';
    const bytes = (current: number, total: number) => ({
      kind: 'bytes',
      current,
      total,
      id: 'course'
    });
    const events: Event[] = [
      { phase: 'waiting', message: 'Queued' },
      { phase: 'pushing', message: `Pushing ${image}` },
      {
        phase: 'pushing',
        message: 'a1b2c3: Pushing 1.2 MB / 4.0 MB',
        progress: bytes(1234000, 4000000)
      },
      {
        phase: 'pushing',
        message: `Pushed ${image} (sha256:0)`,
        progress: bytes(4000000, 4000000)
      },
      { phase: 'ready', message: `Ready: ${image}`, image }
    ];
    const served = { count: 3 };
    await routeEvents(page, id, events, served);
    await routeFinishedJob(page, id, image, null);
    const log = await openLog(page, id);
    const progress = log.locator('.jp-r2d-progress');
    await expect(progress).toHaveText('1.2 MB / 4.0 MB');
    await expect(log.locator('.jp-r2d-log-line').last()).toContainText(
      'Pushing 1.2 MB / 4.0 MB'
    );
    served.count = events.length; // the push ends
    await expect(log).toHaveAttribute('data-phase', 'ready', {
      timeout: 20000
    });
    await expect(progress).toHaveText('');
  });

  test("BuildKit's log limit notice is set apart from the build's output", async ({
    page
  }) => {
    const id = 'c0ffee000002';
    const notice =
      'BuildKit dropped output of this step here: its log limit of 200KiB/s was reached.\n' +
      'The step itself ran on. To keep all of its output, raise BUILDKIT_STEP_LOG_MAX_SIZE';
    const events: Event[] = [
      { phase: 'building', message: '[2/2] RUN seq 1 400000' },
      { phase: 'building', message: '36000' },
      { phase: 'building', message: notice, notice: 'log_limit' },
      { phase: 'built', message: 'Built x:latest' },
      { phase: 'ready', message: 'Ready: x:latest' }
    ];
    await routeEvents(page, id, events, { count: events.length });
    await routeFinishedJob(page, id, 'x:latest', { path: 'x' });
    const log = await openLog(page, id);
    await expect(log).toHaveAttribute('data-phase', 'ready');
    const lines = log.locator('.jp-r2d-log-line');
    await expect(lines).toHaveCount(6);
    const notices = log.locator('.jp-r2d-log-line.jp-r2d-log-notice');
    await expect(notices).toHaveCount(2); // the notice's two lines
    await expect(notices.first()).toHaveAttribute('role', 'note');
    await expect(notices.first()).toContainText('log limit of 200KiB/s');
    await expect(notices.nth(1)).toContainText('BUILDKIT_STEP_LOG_MAX_SIZE');
    await expect(lines.nth(1)).not.toHaveClass(/jp-r2d-log-notice/);
    // Set apart: another background and weight than the output around it.
    const look = (i: number) =>
      lines.nth(i).evaluate(node => {
        const style = getComputedStyle(node);
        return `${style.backgroundColor} ${style.fontWeight}`;
      });
    expect(await look(2)).not.toBe(await look(1));
    // A notice is no error: nothing to jump to.
    await expect(log.locator('[data-action="jump-error"]')).toBeDisabled();
  });
});
