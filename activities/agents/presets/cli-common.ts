/**
 * What the CLI presets share (Claude Code, Codex, Gemini CLI): reading a CLI's JSON-lines output, the few
 * progress phrases a person supervising a task sees for the model's tool calls, and writing a CLI's
 * configuration into the attempt's private directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';

/** A JSON object, as read from a CLI's output. */
export type JsonObject = Record<string, unknown>;

/** The longest command a progress line shows (the rest is cut: it is a hint, the full command is in the log). */
const MAX_COMMAND_CHARS = 120;

/** The object a stdout line holds, or undefined for anything else (stderr, a banner, a warning, a cut line). */
export function jsonLine(stream: 'stdout' | 'stderr', text: string): JsonObject | undefined {
  if (stream !== 'stdout' || !text.startsWith('{')) return undefined;
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The sum of the numbers among `values`, or undefined when there is none (a CLI that reported nothing). */
export function sumOf(...values: unknown[]): number | undefined {
  const numbers = values.map(asNumber).filter((value): value is number => value !== undefined);
  return numbers.length === 0 ? undefined : numbers.reduce((sum, value) => sum + value, 0);
}

/** "editing src/x.ts": the file relative to the worktree when it is inside it. */
export function editProgress(file: string, workdir: string): string {
  const inside = isAbsolute(file) ? relative(workdir, file) : file;
  return `editing ${inside && !inside.startsWith('..') ? inside : file}`;
}

/** "running npm test": one line, without the shell wrapper a CLI may put around it (`/bin/bash -lc '...'`). */
export function commandProgress(command: string): string {
  const wrapped = /^(?:\S*\/)?(?:ba|z|da)?sh -\w*c (?:'(.*)'|"(.*)"|(.*))$/s.exec(command.trim());
  const line = (wrapped ? (wrapped[1] ?? wrapped[2] ?? wrapped[3]!) : command).replace(/\s+/g, ' ').trim();
  return `running ${line.length > MAX_COMMAND_CHARS ? `${line.slice(0, MAX_COMMAND_CHARS - 1)}…` : line}`;
}

/**
 * The progress line for a call of one of `baton mcp`'s tools (its bare name). Only `submit_result`: the
 * driver already shows what `report_progress` and `ask_human` recorded, with their text.
 */
export function mcpToolProgress(tool: string): string | undefined {
  return tool === 'submit_result' ? 'submitting the result' : undefined;
}

/**
 * The first error a CLI printed on stderr ("error: unknown option '--x'", "Error loading config.toml: <where>:
 * <what>"): what a run that ended before its machine-readable output began has to say for itself.
 */
export class StderrError {
  private text?: string;
  private complete = false;

  see(stream: 'stdout' | 'stderr', line: string): void {
    const text = line.trim();
    if (stream !== 'stderr' || !text || this.complete) return;
    if (this.text === undefined) {
      if (!/^error\b/i.test(text)) return;
      this.text = text;
    } else {
      this.text = `${this.text} ${text}`;
    }
    // "Error loading config.toml:" says what failed; the line after it says why.
    this.complete = !this.text.endsWith(':');
  }

  get message(): string | undefined {
    return this.text;
  }
}

/** Writes a file of the CLI's configuration under the attempt's private directory; returns its path. */
export function writeRunFile(runDir: string, file: string, content: string): string {
  const path = join(runDir, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
