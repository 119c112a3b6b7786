// The demo's lint gate: no console.log, no `var`, every source file ends with a newline.
import { readdirSync, readFileSync } from 'node:fs';

const problems = [];
for (const name of readdirSync('src')) {
  const text = readFileSync(`src/${name}`, 'utf8');
  if (/console\.log/.test(text)) problems.push(`src/${name}: console.log left in`);
  if (/\bvar\s/.test(text)) problems.push(`src/${name}: use let or const, not var`);
  if (!text.endsWith('\n')) problems.push(`src/${name}: no newline at end of file`);
}
for (const problem of problems) console.error(problem);
console.log(problems.length ? `${problems.length} lint problem(s)` : 'lint clean');
process.exitCode = problems.length ? 1 : 0;
