/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/examples/cifar10/test', '<rootDir>/examples/browser/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript' },
          target: 'es2020',
          transform: { useDefineForClassFields: false },
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  // vit-tfjs/node imports the main entry by its package name; tests use the sources.
  moduleNameMapper: { '^vit-tfjs$': '<rootDir>/src/index.ts' },
  setupFiles: ['<rootDir>/test/setup.ts'],
  // Test files are CPU-bound and single-threaded: use both cores of a 2-core CI machine.
  maxWorkers: 2,
  testTimeout: 180000,
};
