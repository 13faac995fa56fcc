/**
 * UI rendering benchmarks (not part of the default run):
 *   ui-tests/run --config playwright.bench.config.js
 * HTTP is mocked with page.route; only rendering is timed.
 */
const base = require('./playwright.config');

module.exports = {
  ...base,
  testDir: './benchmarks',
  testMatch: '**/*.bench.ts',
  timeout: 300 * 1000,
  reporter: 'list'
};
