/**
 * Jest: unit tests of the extension's pure TypeScript (parsers, models,
 * grouping), in labextension/test. Modules that need the DOM say so with a
 * `@jest-environment jsdom` docblock; the rest run in Node.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/labextension/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
