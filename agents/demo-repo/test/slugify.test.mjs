import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slugify } from '../src/slugify.mjs';

test('joins words with dashes in lower case', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});

test('drops accents', () => {
  assert.equal(slugify('Crème brûlée'), 'creme-brulee');
});

test('drops punctuation and squeezes separators', () => {
  assert.equal(slugify('  Crème brûlée: 2 ways!  '), 'creme-brulee-2-ways');
});
