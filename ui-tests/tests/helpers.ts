/**
 * Shared helpers of the jupyter_r2d Galata tests (not a spec file).
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The id of the Images sidebar panel. */
export const PANEL_ID = 'jupyter-r2d-images';

/** The server's root folder (see jupyter_server_test_config.py). */
export const ROOT =
  process.env.R2D_UI_ROOT || path.join(__dirname, '..', '.jupyter_root');

/** The test bed's local base image. */
export const BASE = process.env.R2D_TEST_BASE_IMAGE || 'r2d-test/base:latest';

/** A unique, valid image/folder name for this test run. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** Run the docker CLI (test setup, checks and cleanup only). */
export function docker(...args: string[]): string {
  return execFileSync('docker', args, {
    encoding: 'utf-8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim();
}

/**
 * Make an image of its own (not just another tag of the base image) that
 * jupyter_r2d did not build.
 */
export function makeImage(ref: string): void {
  // A context folder, not a Dockerfile on stdin: for that the docker CLI
  // leaves two temporary folders behind in /tmp.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2dui-image-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'Dockerfile'),
      `FROM ${BASE}\nLABEL r2dui.test="${ref}"\n`
    );
    docker('build', '-q', '-t', ref, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Create a Dockerfile repo in the server's root folder. */
export function makeRepo(name: string, dockerfile: string): void {
  const dir = path.join(ROOT, name);
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  fs.writeFileSync(path.join(dir, 'www', 'index.html'), `hello from ${name}\n`);
}

/** A Dockerfile whose image serves www/ with busybox httpd on port 8080. */
export const serveDockerfile = [
  `FROM ${BASE}`,
  'COPY www /www',
  'RUN echo building layer two',
  'EXPOSE 8080',
  'CMD ["httpd","-f","-p","8080","-h","/www"]',
  ''
].join('\n');

/** Show the Images panel. */
export async function openPanel(page: IJupyterLabPageFixture) {
  await page.locator(`.jp-SideBar [data-id="${PANEL_ID}"]`).click();
  const panel = page.locator(`#${PANEL_ID}`);
  await expect(panel.locator('.jp-r2d-engine-available')).toBeVisible();
  return panel;
}

/** Open the folder in the file browser, then the Images panel. */
export async function openFolder(page: IJupyterLabPageFixture, name: string) {
  await page.filebrowser.openDirectory(name);
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-r2d-folder')).toHaveAttribute(
    'data-folder',
    name
  );
  return panel;
}

/**
 * Build a folder of the server root through the REST API (setup for tests
 * about what comes after a build) and wait until the job succeeded.
 *
 * @returns the finished job record
 */
export async function buildViaAPI(
  page: IJupyterLabPageFixture,
  name: string,
  image: string
): Promise<any> {
  return jobViaAPI(page, { source: { path: name }, image });
}

/**
 * Start a job through the REST API and wait until it succeeded.
 *
 * @returns the finished job record
 */
export async function jobViaAPI(
  page: IJupyterLabPageFixture,
  data: { [key: string]: unknown }
): Promise<any> {
  const started = await page.request.post('/r2d/api/builds', { data });
  expect(started.status()).toBe(202);
  const job = await started.json();
  let record: any = job;
  await expect
    .poll(
      async () => {
        record = await (
          await page.request.get(`/r2d/api/builds/${job.id}`)
        ).json();
        // "finished" comes after the work that follows a build (the removal of the
        // image it superseded).
        return record.finished ? record.status : 'running';
      },
      { timeout: 120000, intervals: [500, 1000] }
    )
    .toBe('succeeded');
  return record;
}

/** The job record whose image is `image` (newest first). */
export async function findJob(
  page: IJupyterLabPageFixture,
  image: string
): Promise<any> {
  const jobs = (await (await page.request.get('/r2d/api/builds')).json())
    .builds;
  return jobs.find(
    (b: any) => b.image === image || b.image.endsWith(`/${image}`)
  );
}

/** Remove an image through the API, ignoring "not found". */
export async function removeImageQuietly(
  page: IJupyterLabPageFixture,
  ref: string
): Promise<void> {
  await page.request.delete(`/r2d/api/images/${encodeURIComponent(ref)}`);
}

/** The test bed's password registry and its test login. */
export function authRegistry(): {
  server: string;
  username: string;
  password: string;
} {
  const password = fs
    .readFileSync(
      process.env.R2D_TEST_AUTH_PASSWORD_FILE ||
        '/var/lib/r2d-testbed/password',
      'utf-8'
    )
    .trim();
  expect(password.length).toBeGreaterThan(0);
  return {
    server: process.env.R2D_TEST_AUTH_REGISTRY || '127.0.0.1:5556',
    username: process.env.R2D_TEST_AUTH_USER || 'r2d-tester',
    password
  };
}

/**
 * Answer `GET builds/<id>` with a finished, succeeded job (for views whose
 * event stream the test mocks).
 */
export async function routeFinishedJob(
  page: IJupyterLabPageFixture,
  id: string,
  image: string,
  source: { path: string } | null
): Promise<void> {
  const now = new Date().toISOString();
  // With or without JupyterLab's cache-busting query.
  await page.route(new RegExp(`/r2d/api/builds/${id}(\\?[^/]*)?$`), route =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        id,
        created: now,
        started: now,
        finished: now,
        status: 'succeeded',
        phase: 'ready',
        source,
        image,
        run: false,
        push: false,
        image_id: null,
        digest: null,
        container: null,
        error: null
      })
    })
  );
}
