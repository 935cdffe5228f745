// Flat config: recommended JS + TypeScript rules; type checking itself is `tsc --noEmit` in `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'web-dist/', 'node_modules/', 'certs/', 'data/', 'logs/', 'downloads/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain JS entry points (bin/, scripts/*.mjs) run on Node: declare its globals for them.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
);
