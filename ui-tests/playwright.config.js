/**
 * Playwright configuration for the jupyter_r2d Galata tests.
 *
 * Uses the system Chromium (Playwright's browser download is not needed) and
 * starts JupyterLab with jupyter_server_test_config.py.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.R2D_UI_PORT || '8888';

module.exports = {
  ...baseConfig,
  testDir: './tests',
  timeout: 120 * 1000,
  expect: { timeout: 15 * 1000 },
  retries: 0,
  workers: 1,
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.R2D_TEST_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    // jupyter-lab directly (not `jupyter lab`, which spawns a child that
    // would survive Playwright's teardown and keep the port).
    command: `jupyter-lab --config jupyter_server_test_config.py --ServerApp.port=${port}`,
    url: `http://localhost:${port}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
