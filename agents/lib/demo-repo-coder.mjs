/**
 * The demo coder's part in the walkthrough repository (`baton demo-repo`): a scripted coder, honest about it.
 * Its first attempt at slugify is naive and fails the test gate; with the gate's output as feedback it
 * writes the version that passes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { progress, sleep } from './agent-kit.mjs';

const SLUGIFY = 'src/slugify.mjs';
const DOC = `/**
 * Turns a title into a URL slug: lower case, ASCII letters and digits, words joined by single dashes.
 * slugify('Crème brûlée: 2 ways!') === 'creme-brulee-2-ways'
 */
`;

const FIRST_ATTEMPT = `${DOC}export function slugify(text) {
  return text.trim().toLowerCase().split(/\\s+/).join('-');
}
`;

const WITH_GATE_FEEDBACK = `${DOC}export function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\\u0300-\\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
`;

function workdir() {
  return process.env.BATON_WORKDIR ?? process.cwd();
}

/** The walkthrough repository: its slugify stub and its gate configuration. */
export function isDemoRepo() {
  const dir = workdir();
  return existsSync(path.join(dir, SLUGIFY)) && existsSync(path.join(dir, '.baton.yaml')) && existsSync(path.join(dir, 'test', 'slugify.test.mjs'));
}

export async function implementDemoRepo(context) {
  const gateFeedback = context.feedback.filter((entry) => entry.from === 'gates');
  const file = path.join(workdir(), SLUGIFY);
  if (gateFeedback.length === 0) {
    progress(`round ${context.round}: a first, simple slugify`);
    await sleep(100);
    writeFileSync(file, FIRST_ATTEMPT);
    return { outcome: 'completed', summary: 'implement slugify: lower case, words joined by dashes', confidence: 0.6 };
  }
  const failing = gateFeedback.at(-1).text.split('\n').find((line) => /not ok|AssertionError|expected/i.test(line)) ?? 'a test failed';
  progress(`round ${context.round}: the test gate said: ${failing.trim().slice(0, 120)}`);
  await sleep(100);
  const before = readFileSync(file, 'utf8');
  writeFileSync(file, WITH_GATE_FEEDBACK);
  return {
    outcome: 'completed',
    summary: `slugify: drop accents and punctuation (the test gate failed round ${context.round - 1})`,
    confidence: before === WITH_GATE_FEEDBACK ? 0.5 : 0.9,
  };
}
