import { describe, expect, it } from 'vitest';
import { BUILTIN_SECRET_KINDS, SecretPatternError, createSecretScanner } from '../../activities/git/secret-scan';

// Every token-shaped fixture is assembled at run time: no literal credential sits in this file, so neither
// GitHub push protection nor Baton's own scanner flags the repository.

/** `length` characters of mixed-case letters and digits, varied by `seed` so fixtures differ. */
function fill(length: number, seed = 0): string {
  const alphabet = 'aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zCfLoIi';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[(i * 7 + seed) % alphabet.length];
  return out;
}

function digits(length: number): string {
  return '4817263950'.repeat(Math.ceil(length / 10)).slice(0, length);
}

const upper = (length: number, seed = 0): string => fill(length, seed).toUpperCase();
const pemHeader = (label: string): string => '-----BEGIN ' + label + '-----';
const pemFooter = (label: string): string => '-----END ' + label + '-----';

interface Sample {
  name: string;
  kind: string;
  secret: string;
  /** The line the secret sits on, as code would hold it. */
  line: string;
}

function sample(name: string, kind: string, secret: string, line = `const value = "${secret}";`): Sample {
  return { name, kind, secret, line };
}

const awsSecret = fill(20, 1) + '/' + fill(10, 2) + '+' + fill(8, 3);
const SAMPLES: Sample[] = [
  sample('AWS access key id (AKIA)', 'aws-access-key', 'AKIA' + upper(16, 4)),
  sample('AWS temporary access key id (ASIA)', 'aws-access-key', 'ASIA' + upper(16, 5)),
  sample('aws_secret_access_key assignment', 'aws-secret-key', awsSecret, 'aws_secret_access_key = ' + awsSecret),
  sample('AWS_SECRET_ACCESS_KEY in a .env', 'aws-secret-key', awsSecret, 'AWS_SECRET_ACCESS_KEY="' + awsSecret + '"'),
  sample('awsSecretAccessKey in JSON', 'aws-secret-key', awsSecret, '  "awsSecretAccessKey": "' + awsSecret + '",'),
  ...['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].map((prefix, i) =>
    sample(`GitHub token ${prefix}`, 'github-token', prefix + fill(36, i)),
  ),
  sample('GitHub fine-grained token', 'github-token', 'github_' + 'pat_' + fill(22, 6) + '_' + fill(59, 7)),
  sample('OpenAI key', 'openai-key', 'sk-' + fill(48, 8)),
  sample('OpenAI project key', 'openai-key', 'sk-' + 'proj-' + fill(60, 9) + '-' + fill(30, 10) + '_' + fill(40, 11)),
  sample('Anthropic key', 'anthropic-key', 'sk-' + 'ant-' + 'api03-' + fill(86, 12) + '-' + fill(6, 13) + 'AA'),
  sample('Slack bot token', 'slack-token', 'xoxb-' + digits(12) + '-' + digits(13) + '-' + fill(24, 14)),
  sample('Slack user token', 'slack-token', 'xoxp-' + digits(12) + '-' + digits(12) + '-' + digits(13) + '-' + fill(32, 15)),
  sample('Slack app token', 'slack-token', 'xoxa-' + '2-' + digits(12) + '-' + fill(40, 16)),
  sample('Slack refresh token', 'slack-token', 'xoxr-' + digits(12) + '-' + fill(40, 17)),
  sample('Slack session token', 'slack-token', 'xoxs-' + digits(12) + '-' + fill(40, 18)),
  sample(
    'Slack incoming webhook',
    'slack-webhook',
    'https://hooks.' + 'slack.com/services/' + 'T' + upper(8, 19) + '/B' + upper(10, 20) + '/' + fill(24, 21),
  ),
  sample('Google API key', 'google-api-key', 'AIza' + 'Sy' + fill(33, 22)),
  sample('Google OAuth client secret', 'google-oauth-secret', 'GOCSPX-' + fill(28, 23)),
  ...['RSA ', 'EC ', 'DSA ', 'OPENSSH ', 'ENCRYPTED ', ''].map((type) => {
    const header = pemHeader(type + 'PRIVATE KEY');
    return sample(`PEM ${type || 'plain '}private key`, 'private-key', header, header);
  }),
  sample('PGP private key block', 'private-key', pemHeader('PGP PRIVATE KEY BLOCK'), pemHeader('PGP PRIVATE KEY BLOCK')),
];

/** A realistic chunk of ordinary TypeScript that must produce no finding. */
const ORDINARY_CODE = [
  "import { createHash, randomUUID } from 'node:crypto';",
  '',
  "const skip = 'sk-';",
  "const taskId = 'task-123';",
  "const askForHelp = 'ask-' + taskId + '-desk-sk-widget';",
  "const className = 'risk-sk-container-header-title-wrapper-2024';",
  "const commit = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'; // sha1 of the base",
  "const emptySha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';",
  "const requestId = '123e4567-e89b-12d3-a456-426614174000';",
  "const encoded = Buffer.from('hello world').toString('base64'); // aGVsbG8gd29ybGQ=",
  "const ASIA_PACIFIC = 'ap-southeast-1';",
  "const AKIA = 'prefix only';",
  "const placeholder = 'xoxb-your-token-here';",
  'const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY ?? "";',
  "const aws_secret_access_key = readSecret('aws');",
  "const docs = 'https://github.com/org/repo/pull/42';",
  "const webhookDocs = 'https://api.slack.com/messaging/webhooks';",
  'export function riskScore(tasks: { skipped: boolean; id: string }[]): number {',
  "  const hash = createHash('sha1').update(tasks.map((t) => t.id).join(',')).digest('hex');",
  '  return tasks.filter((t) => !t.skipped && hash !== randomUUID()).length;',
  '}',
  '// The parser accepts keys in PEM form; see RFC 7468 for the PRIVATE KEY label.',
].join('\n');

describe('built-in secret patterns', () => {
  it('has a sample for every built-in kind', () => {
    expect(new Set(SAMPLES.map((s) => s.kind))).toEqual(new Set(BUILTIN_SECRET_KINDS));
  });

  it.each(SAMPLES)('detects $name with its kind and line number', ({ kind, secret, line }) => {
    const text = ['// header', 'const unrelated = 1;', line, 'export {};'].join('\n');

    const findings = createSecretScanner().scanText('src/config.ts', text);

    expect(findings).toEqual([{ file: 'src/config.ts', line: 3, kind, preview: expect.any(String) as string }]);
    expect(findings[0]!.preview).toContain(`[REDACTED ${kind}]`);
    expect(findings[0]!.preview).not.toContain(secret);
  });

  it.each(SAMPLES)('redacts $name', ({ kind, secret, line }) => {
    const redacted = createSecretScanner().redact(line);

    expect(redacted).toContain(`[REDACTED ${kind}]`);
    expect(redacted).not.toContain(secret);
  });

  it('classifies an Anthropic key as anthropic only, never as OpenAI', () => {
    const key = 'sk-' + 'ant-' + 'api03-' + fill(90, 1);

    const findings = createSecretScanner().scanText('a.env', `ANTHROPIC_API_KEY=${key}`);

    expect(findings.map((f) => f.kind)).toEqual(['anthropic-key']);
  });

  it('finds nothing in ordinary code', () => {
    const scanner = createSecretScanner();

    expect(scanner.scanText('src/ordinary.ts', ORDINARY_CODE)).toEqual([]);
    expect(scanner.redact(ORDINARY_CODE)).toBe(ORDINARY_CODE);
  });

  it('ignores tokens that are too short or glued to a word', () => {
    const scanner = createSecretScanner();
    const text = [
      'ghp_' + fill(20),
      'sk-' + fill(20),
      'mask-' + fill(48),
      'AKIA' + upper(12),
      'AKIA' + upper(20),
      'xghp_' + fill(36),
      'AIza' + fill(20),
    ].join('\n');

    expect(scanner.scanText('short.txt', text)).toEqual([]);
  });
});

describe('findings', () => {
  const token = 'ghp_' + fill(36);
  const openai = 'sk-' + fill(48, 3);

  it('uses the line numbers it is given', () => {
    const findings = createSecretScanner().scanLines('a.ts', [
      { line: 10, text: 'nothing here' },
      { line: 42, text: `const t = '${token}';` },
    ]);

    expect(findings).toEqual([{ file: 'a.ts', line: 42, kind: 'github-token', preview: "const t = '[REDACTED github-token]';" }]);
  });

  it('reports one finding per kind and line, and each preview hides every secret of its line', () => {
    const line = `call('${token}', '${openai}', '${token}');`;

    const findings = createSecretScanner().scanLines('a.ts', [{ line: 1, text: line }]);

    expect(findings.map((f) => f.kind)).toEqual(['github-token', 'openai-key']);
    for (const finding of findings) {
      expect(finding.preview).toBe("call('[REDACTED github-token]', '[REDACTED openai-key]', '[REDACTED github-token]');");
    }
  });

  it('counts lines across CRLF line endings and keeps no carriage return in previews', () => {
    const findings = createSecretScanner().scanText('win.txt', `one\r\ntwo\r\nkey=${token}\r\nfour`);

    expect(findings).toEqual([{ file: 'win.txt', line: 3, kind: 'github-token', preview: 'key=[REDACTED github-token]' }]);
  });

  it('cuts previews to 200 characters around the secret', () => {
    const line = '  ' + 'x'.repeat(3_000) + ` token=${token} ` + 'y'.repeat(3_000);

    const [finding] = createSecretScanner().scanText('min.js', line);

    expect(finding!.preview.length).toBeLessThanOrEqual(200);
    expect(finding!.preview).toContain('token=[REDACTED github-token]');
    expect(finding!.preview).not.toContain(token);
    expect(finding!.preview.startsWith('…')).toBe(true);
    expect(finding!.preview.endsWith('…')).toBe(true);
  });

  it('trims indentation from short previews', () => {
    const [finding] = createSecretScanner().scanText('a.ts', `\t    const t = '${token}';   `);

    expect(finding!.preview).toBe("const t = '[REDACTED github-token]';");
  });

  it('scans only the first 10,000 characters of a line', () => {
    const early = 'x'.repeat(9_000) + ' ' + token;
    const late = 'x'.repeat(10_000) + ' ' + token;

    const findings = createSecretScanner().scanText('bundle.js', [early, late].join('\n'));

    expect(findings.map((f) => [f.line, f.kind])).toEqual([[1, 'github-token']]);
  });
});

describe('redact', () => {
  const github = 'ghp_' + fill(40, 1);
  const aws = 'AKIA' + upper(16, 2);
  const slack = 'xoxb-' + digits(12) + '-' + digits(12) + '-' + fill(24, 3);
  const keyBody = [fill(64, 4), fill(64, 5), fill(20, 6) + '=='];

  it('returns the very same string when nothing can match', () => {
    const line = 'npm test: 42 passed, 0 failed (1.2s)';

    expect(createSecretScanner().redact(line)).toBe(line);
    expect(createSecretScanner().redact('')).toBe('');
  });

  it('removes every secret from multi-line output, two on one line included', () => {
    const output = [
      '> npm test',
      `config: token=${github} region=us-east-1 key=${aws}`,
      `posting to slack with ${slack}`,
      pemHeader('RSA PRIVATE KEY'),
      ...keyBody,
      pemFooter('RSA PRIVATE KEY'),
      'done',
    ].join('\n');

    const redacted = createSecretScanner().redact(output);

    expect(redacted).toBe(
      [
        '> npm test',
        'config: token=[REDACTED github-token] region=us-east-1 key=[REDACTED aws-access-key]',
        'posting to slack with [REDACTED slack-token]',
        '[REDACTED private-key]',
        'done',
      ].join('\n'),
    );
  });

  it('redacts a private key to the end of the text when its END line was cut off', () => {
    const tail = ['error: bad key', pemHeader('OPENSSH PRIVATE KEY'), ...keyBody].join('\n');

    expect(createSecretScanner().redact(tail)).toBe('error: bad key\n[REDACTED private-key]');
  });

  it('redacts a private key held in one JSON string', () => {
    const json = `{"private_key": "${pemHeader('PRIVATE KEY')}\\n${keyBody.join('\\n')}\\n${pemFooter('PRIVATE KEY')}\\n", "x": 1}`;

    expect(createSecretScanner().redact(json)).toBe('{"private_key": "[REDACTED private-key]\\n", "x": 1}');
  });

  it('merges overlapping matches of different kinds into one redaction', () => {
    // The custom pattern starts before the GitHub token and ends inside it.
    const scanner = createSecretScanner(['ID-[0-9]{4}-ghp_[A-Za-z0-9]{4}']);
    const text = `ids: ID-1234-${github} end`;

    const redacted = scanner.redact(text);

    expect(redacted).toBe('ids: [REDACTED custom] end');
  });

  it('cuts lines longer than 10,000 characters instead of passing unscanned text on', () => {
    const hidden = 'ghp_' + fill(36, 9);
    const long = 'x'.repeat(9_990) + hidden;
    const text = `before\n${long}\nafter ${github}`;

    const redacted = createSecretScanner().redact(text);

    const lines = redacted.split('\n');
    expect(lines[0]).toBe('before');
    expect(lines[1]).toBe('x'.repeat(9_990) + hidden.slice(0, 10) + `…[${long.length - 10_000} characters cut]`);
    expect(lines[2]).toBe('after [REDACTED github-token]');
    expect(redacted).not.toContain(hidden);
  });

  it('can be passed around as a plain function', () => {
    const { redact } = createSecretScanner();

    expect([`a ${github}`, 'b'].map(redact)).toEqual(['a [REDACTED github-token]', 'b']);
  });
});

describe('custom patterns', () => {
  const companyToken = 'MYCO-' + upper(32, 7);

  it('detects them with kind custom', () => {
    const scanner = createSecretScanner(['MYCO-[A-Z0-9]{32}']);

    const findings = scanner.scanText('deploy.sh', `#!/bin/sh\nexport TOKEN=${companyToken}\n`);

    expect(findings).toEqual([{ file: 'deploy.sh', line: 2, kind: 'custom', preview: 'export TOKEN=[REDACTED custom]' }]);
    expect(scanner.redact(`a ${companyToken} b ${companyToken}`)).toBe('a [REDACTED custom] b [REDACTED custom]');
  });

  it('keeps the built-in patterns alongside', () => {
    const scanner = createSecretScanner(['MYCO-[A-Z0-9]{32}']);
    const github = 'ghp_' + fill(36);

    expect(scanner.scanText('x', `${companyToken} ${github}`).map((f) => f.kind)).toEqual(['custom', 'github-token']);
  });

  it('does not apply them to other scanners', () => {
    createSecretScanner(['MYCO-[A-Z0-9]{32}']);

    expect(createSecretScanner().scanText('x', companyToken)).toEqual([]);
  });

  it('ignores zero-width matches instead of looping or redacting nothing', () => {
    const scanner = createSecretScanner(['\\b']);

    expect(scanner.redact('plain words here')).toBe('plain words here');
    expect(scanner.scanText('x', 'plain words here')).toEqual([]);
  });

  it.each([
    ['MYCO-[A-Z', /secret pattern "MYCO-\[A-Z" is not a valid regular expression: .*character class/i],
    ['(unclosed', /secret pattern "\(unclosed" is not a valid regular expression/],
    ['', /secret pattern "" is empty/],
    ['a*', /secret pattern "a\*" matches the empty string/],
    ['(?:x)?', /matches the empty string/],
    ['(?i)myco-[a-z]+', /no inline flags such as \(\?i\)/],
  ])('rejects %j with a clear message', (pattern, message) => {
    let error: unknown;
    try {
      createSecretScanner(['VALID-[0-9]+', pattern]);
    } catch (err) {
      error = err;
    }

    expect(error).toBeInstanceOf(SecretPatternError);
    expect((error as SecretPatternError).message).toMatch(message);
    expect((error as SecretPatternError).pattern).toBe(pattern);
  });
});
