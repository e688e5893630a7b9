// ESLint: type-aware checks everywhere, and the Temporal sandbox rule for workflows/: workflow code
// is replayed deterministically, so it must not reach Node built-ins, the database, HTTP or sharp.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const forbiddenInWorkflows = [
  ...builtinModules.flatMap((m) => [m, `node:${m}`]),
  'drizzle-orm', 'drizzle-orm/*', 'postgres', 'hono', 'hono/*', '@hono/*', 'undici', 'sharp',
  '@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tools/**', 'migrations/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.filter((m) => !m.endsWith('/*')).map((name) => ({
          name, message: 'Workflow code runs in the Temporal sandbox: do this in an activity.',
        })),
        patterns: [{ group: forbiddenInWorkflows.filter((m) => m.endsWith('/*')), message: 'Not in workflow code: use an activity.' },
          { group: ['../src/*', '../activities/*', '!../activities/*.types', '../src/**'], message: 'Workflows import activities only as types; shared constants live in workflows/.' }],
      }],
    },
  },
);
