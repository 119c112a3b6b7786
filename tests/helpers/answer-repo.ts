/**
 * A small repository for coding-task tests: its `test` gate (`node check.mjs`) passes only when answer.txt
 * says 42. With WRONG_THEN_RIGHT the scripted coder fails the gate in round 1 and passes it in round 2.
 */
export const ANSWER_REPO_FILES = {
  'README.md': '# answer\n',
  'answer.txt': 'unknown\n',
  'check.mjs': [
    "import { readFileSync } from 'node:fs';",
    "const answer = readFileSync('answer.txt', 'utf8').trim();",
    "console.log('checking answer.txt');",
    "if (answer !== '42') { console.error(`expected 42, got ${answer}`); process.exit(1); }",
    "console.log('answer is 42');",
    '',
  ].join('\n'),
  '.baton.yaml': ['gates:', '  profile: minimal', '  commands:', '    test: { run: ["node", "check.mjs"], timeout: 1m }', ''].join('\n'),
};

/** A script for `tests/fixtures/agents/scripted.mjs`: a wrong answer in round 1, the right one in round 2. */
export const WRONG_THEN_RIGHT = { implement: { '1': { files: { 'answer.txt': '41\n' } }, '2': { files: { 'answer.txt': '42\n' } } } };
