/**
 * Shared wording of configuration problems: every config file reports each problem as
 * `<source>: <field.path>: <message>`, so users can find the field whichever file it is in.
 */
import type { z } from 'zod';

/** A zod issue path as users write it: `gates.commands.test.run[0]`, or `(root)` for the whole document. */
export function formatFieldPath(fieldPath: readonly PropertyKey[]): string {
  let out = '';
  for (const key of fieldPath) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One `<source>: <field.path>: <message>` line per zod issue. */
export function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${source}: ${formatFieldPath(issue.path)}: ${issue.message}`);
}
