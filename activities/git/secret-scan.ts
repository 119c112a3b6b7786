/**
 * Finds credentials in a change before Baton commits it, and redacts them from anything Baton shows or
 * stores (gate output tails, logs). Pure: no I/O, so callers decide what to read and where findings go.
 */
import type { SecretFinding } from '../../workflows/workspace';

/** Scans text for secrets and redacts them. Methods do not use `this`, so they can be passed as callbacks. */
export interface SecretScanner {
  /** Findings in one file's added lines (line numbers 1-based in the new file). `preview` is redacted. */
  scanLines(file: string, lines: Iterable<{ line: number; text: string }>): SecretFinding[];
  /** Findings in a whole text (e.g. an untracked file's content), line numbers computed. */
  scanText(file: string, text: string): SecretFinding[];
  /** The text with every secret replaced by `[REDACTED <kind>]`. Must be safe to call on every log line (fast path when nothing can match). */
  redact(text: string): string;
}

/** A `secrets.patterns` entry that cannot be used; the message names the pattern and why. */
export class SecretPatternError extends Error {
  override readonly name = 'SecretPatternError';
  constructor(
    /** The pattern as written. */
    readonly pattern: string,
    reason: string,
  ) {
    super(`secret pattern ${JSON.stringify(pattern)} ${reason}`);
  }
}

interface BuiltinPattern {
  kind: string;
  regex: RegExp;
  /** Literals one of which every match contains (case-insensitively): lets `redact` skip text that cannot match. */
  hints: readonly string[];
}

// Leading `\b` and minimum lengths keep identifiers such as `skip`, `task-123` or `xoxb-your-token` out.
const BUILTIN_PATTERNS: readonly BuiltinPattern[] = [
  { kind: 'aws-access-key', regex: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, hints: ['AKIA', 'ASIA'] },
  {
    // The secret key has no prefix of its own: only its assignment to a well-known name identifies it.
    // Bounded blanks: the lookbehind runs at every position, and `\s*` there is quadratic on long blank runs.
    kind: 'aws-secret-key',
    regex: /(?<=\baws_?secret_?access_?key["']?[ \t]{0,8}(?::=|=>|[:=])[ \t]{0,8}["']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/gi,
    hints: ['secret'],
  },
  { kind: 'github-token', regex: /\bgh[pousr]_[A-Za-z0-9]{36,}/g, hints: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'] },
  { kind: 'github-token', regex: /\bgithub_pat_[A-Za-z0-9_]{22,}/g, hints: ['github_pat_'] },
  // Listed before openai-key so it names a span both match; today none does, as openai's bare form allows no `-`.
  { kind: 'anthropic-key', regex: /\bsk-ant-[A-Za-z0-9_-]{32,}/g, hints: ['sk-ant-'] },
  { kind: 'openai-key', regex: /\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{32,}|[A-Za-z0-9]{32,})/g, hints: ['sk-'] },
  // Real Slack tokens start with a numeric team or version segment; placeholders like `xoxb-your-token` do not.
  { kind: 'slack-token', regex: /\bxox[abprs]-[0-9]+-[A-Za-z0-9-]{20,}/g, hints: ['xox'] },
  {
    kind: 'slack-webhook',
    regex: /(?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,}/g,
    hints: ['hooks.slack.com'],
  },
  { kind: 'google-api-key', regex: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, hints: ['AIza'] },
  { kind: 'google-oauth-secret', regex: /\bGOCSPX-[0-9A-Za-z_-]{24,}/g, hints: ['GOCSPX-'] },
  {
    // The whole block up to its END line is the secret; without an END (a cut output tail) everything after BEGIN is.
    kind: 'private-key',
    regex:
      /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)/g,
    hints: ['PRIVATE KEY'],
  },
];

/** The kinds of the built-in patterns; patterns from `.baton.yaml` report kind `custom`. */
export const BUILTIN_SECRET_KINDS: readonly string[] = Object.freeze([...new Set(BUILTIN_PATTERNS.map((p) => p.kind))]);

const CUSTOM_KIND = 'custom';

/** True when some built-in pattern may match the text; false means none can. */
const BUILTIN_PREFILTER = new RegExp(
  BUILTIN_PATTERNS.flatMap((p) => p.hints)
    .map((hint) => hint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|'),
  'i',
);

// Bounds regex time on minified bundles and on custom patterns that backtrack; no real credential line is longer.
const MAX_SCANNED_LINE = 10_000;
const MAX_PREVIEW = 200;
/** How much of the line before a secret its preview shows when the line is too long to show whole. */
const PREVIEW_CONTEXT_BEFORE = 60;

interface Span {
  start: number;
  end: number;
  kind: string;
}

/** A line as scanned: longer lines are cut, so text Baton never scanned is never shown either. */
function boundLine(line: string): { scanned: string; cutMarker: string } {
  if (line.length <= MAX_SCANNED_LINE) return { scanned: line, cutMarker: '' };
  return {
    scanned: line.slice(0, MAX_SCANNED_LINE),
    cutMarker: `…[${line.length - MAX_SCANNED_LINE} characters cut]`,
  };
}

function compileCustomPattern(source: string): RegExp {
  if (source === '') throw new SecretPatternError(source, 'is empty');
  let regex: RegExp;
  try {
    regex = new RegExp(source, 'g');
  } catch (err) {
    // V8 says `Invalid regular expression: /<source>/g: <reason>`; the pattern is named already.
    const reason = /: ([^:]+)$/.exec((err as Error).message)?.[1] ?? (err as Error).message;
    const inlineFlags = /^\(\?[a-z]+\)/.test(source)
      ? '; JavaScript has no inline flags such as (?i): use character classes like [Mm] instead'
      : '';
    throw new SecretPatternError(source, `is not a valid regular expression: ${reason}${inlineFlags}`);
  }
  if (new RegExp(source).test('')) {
    throw new SecretPatternError(source, 'matches the empty string, so it would match everywhere');
  }
  return regex;
}

/** Overlapping spans (of any kinds) become one, named after the one that starts first (the longest on a tie). */
function mergeSpans(spans: Span[]): Span[] {
  // Stable sort: on equal start and length, built-in patterns (listed first) name the span.
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.start < last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}

/** The text with each span replaced by its marker, and where each marker ended up. */
function replaceSpans(text: string, spans: readonly Span[]): { text: string; markers: Span[] } {
  let out = '';
  let from = 0;
  const markers: Span[] = [];
  for (const span of spans) {
    out += text.slice(from, span.start);
    const marker = `[REDACTED ${span.kind}]`;
    markers.push({ start: out.length, end: out.length + marker.length, kind: span.kind });
    out += marker;
    from = span.end;
  }
  return { text: out + text.slice(from), markers };
}

/** At most MAX_PREVIEW characters of the redacted line, showing the marker that starts at `start`. */
function previewAround(line: string, start: number): string {
  const lead = line.length - line.trimStart().length;
  const body = line.trim();
  if (body.length <= MAX_PREVIEW) return body;
  // Two characters kept for the ellipses marking what was left out on each side.
  const room = MAX_PREVIEW - 2;
  // Markers are far shorter than `room - PREVIEW_CONTEXT_BEFORE`, so starting there keeps the whole marker in view.
  const from = Math.max(0, Math.min(start - lead - PREVIEW_CONTEXT_BEFORE, body.length - room));
  const to = Math.min(body.length, from + room);
  return (from > 0 ? '…' : '') + body.slice(from, to) + (to < body.length ? '…' : '');
}

function* numberedLines(text: string): Generator<{ line: number; text: string }> {
  let line = 0;
  for (const raw of text.split('\n')) {
    line += 1;
    yield { line, text: raw.endsWith('\r') ? raw.slice(0, -1) : raw };
  }
}

/**
 * A scanner with the built-in patterns plus `extraPatterns`.
 *
 * @param extraPatterns regular expression sources from `.baton.yaml` `secrets.patterns`, compiled with the `g`
 *   flag; their findings have kind `custom`.
 * @throws SecretPatternError for an empty or invalid pattern, or one that matches the empty string.
 */
export function createSecretScanner(extraPatterns: readonly string[] = []): SecretScanner {
  const custom = extraPatterns.map(compileCustomPattern);

  function findSpans(text: string): Span[] {
    const spans: Span[] = [];
    const collect = (regex: RegExp, kind: string): void => {
      // matchAll works on a copy of the regex, so the shared one keeps no lastIndex between calls.
      for (const match of text.matchAll(regex)) {
        // A custom pattern may still match zero characters (`\b`, lookaheads): nothing to redact there.
        if (match[0].length > 0) spans.push({ start: match.index, end: match.index + match[0].length, kind });
      }
    };
    if (BUILTIN_PREFILTER.test(text)) for (const pattern of BUILTIN_PATTERNS) collect(pattern.regex, pattern.kind);
    for (const regex of custom) collect(regex, CUSTOM_KIND);
    return spans.length === 0 ? spans : mergeSpans(spans);
  }

  function scanLines(file: string, lines: Iterable<{ line: number; text: string }>): SecretFinding[] {
    const findings: SecretFinding[] = [];
    for (const { line, text } of lines) {
      const { scanned, cutMarker } = boundLine(text);
      const spans = findSpans(scanned);
      if (spans.length === 0) continue;
      const redacted = replaceSpans(scanned, spans);
      const redactedLine = redacted.text + cutMarker;
      // One finding per kind and line: the same secret twice on a line is one thing to fix.
      const kinds = new Set<string>();
      for (const marker of redacted.markers) {
        if (kinds.has(marker.kind)) continue;
        kinds.add(marker.kind);
        findings.push({ file, line, kind: marker.kind, preview: previewAround(redactedLine, marker.start) });
      }
    }
    return findings;
  }

  function scanText(file: string, text: string): SecretFinding[] {
    return scanLines(file, numberedLines(text));
  }

  function redact(text: string): string {
    const bounded =
      text.length <= MAX_SCANNED_LINE
        ? text
        : text
            .split('\n')
            .map((line) => {
              const { scanned, cutMarker } = boundLine(line);
              return scanned + cutMarker;
            })
            .join('\n');
    // Spans may cross lines (a private key block), so the whole text is matched at once.
    const spans = findSpans(bounded);
    return spans.length === 0 ? bounded : replaceSpans(bounded, spans).text;
  }

  return { scanLines, scanText, redact };
}
