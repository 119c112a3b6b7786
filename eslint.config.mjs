// Lint keeps workflows/ deterministic (no Node built-ins, no process, no I/O, activities imported as
// types only) and forbids floating promises everywhere.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.baton/**', 'agents/**', 'tests/fixtures/**', 'bin/**', 'bench/agents/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Fastify plugins and activity implementations are async by contract even when they do not await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflows/ must be deterministic: no Node built-ins.' })),
          patterns: [
            {
              group: ['../activities/*', '../activities/**', '../api/**', '../worker/**', '../temporal/**', '../cli/**'],
              allowTypeImports: true,
              message: 'workflows/ may import activities and other process code as types only.',
            },
            { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'not in workflow code.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'workflows/ must be deterministic: no process or environment.' },
        { name: 'require', message: 'workflows/ must be deterministic: import modules statically.' },
        { name: 'fetch', message: 'workflows/ must not do I/O: use an activity.' },
        { name: 'setInterval', message: 'use workflow timers (sleep, condition).' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.name='require']", message: 'workflows/ must be deterministic: no require().' },
      ],
    },
  },
  {
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/unbound-method': 'off' },
  },
);
