import { describe, expect, it } from 'vitest';
import { RepoConfigError, parseRepoConfig } from '../../activities/git/repo-config';
import { resolveGates } from '../../workflows/workspace';
import { DEFAULT_GATE_PROFILES, type RepoConfig } from '../../workflows/workspace';

const SOURCE = '.baton.yaml at 1a2b3c4';

const FULL_EXAMPLE = `
gates:
  profile: standard              # default profile for tasks on this repository (strict | standard | minimal)
  profiles: { strict: [typecheck, lint, test], standard: [lint, test], minimal: [test] }
  commands:
    test: { run: ["npm", "test"], timeout: 30m }
    lint: { run: ["npm", "run", "lint"], timeout: 10m }
    typecheck: { run: ["npx", "tsc", "--noEmit"], timeout: 10m }
secrets:
  patterns: ["MYCO-[A-Z0-9]{32}"]
`;

/** The RepoConfigError `parseRepoConfig` throws for `yaml`, or fails the test if it accepts it. */
function configError(yaml: string): RepoConfigError {
  try {
    parseRepoConfig(yaml, SOURCE);
  } catch (err) {
    expect(err).toBeInstanceOf(RepoConfigError);
    return err as RepoConfigError;
  }
  throw new Error('expected the configuration to be rejected');
}

/** The problem `resolveGates` reports, one line per problem; fails the test if the gates resolve. */
function gatesProblem(config: RepoConfig, policy: Parameters<typeof resolveGates>[1]): { message: string; problems: string[] } {
  const setup = resolveGates(config, policy);
  if (setup.kind !== 'problem') throw new Error(`expected the gates to be rejected, got ${JSON.stringify(setup)}`);
  return { message: setup.problem, problems: setup.problem.split('\n') };
}

describe('parseRepoConfig', () => {
  it('parses the full example, timeouts in milliseconds', () => {
    expect(parseRepoConfig(FULL_EXAMPLE, SOURCE)).toEqual({
      source: SOURCE,
      profile: 'standard',
      profiles: { strict: ['typecheck', 'lint', 'test'], standard: ['lint', 'test'], minimal: ['test'] },
      commands: {
        test: { run: ['npm', 'test'], timeoutMs: 30 * 60_000 },
        lint: { run: ['npm', 'run', 'lint'], timeoutMs: 10 * 60_000 },
        typecheck: { run: ['npx', 'tsc', '--noEmit'], timeoutMs: 10 * 60_000 },
      },
      secretPatterns: ['MYCO-[A-Z0-9]{32}'],
    });
  });

  it('reads every duration form and defaults the timeout to 30 minutes', () => {
    const config = parseRepoConfig(
      [
        'gates:',
        '  commands:',
        '    words: { run: [make, check], timeout: 10 minutes }',
        '    seconds: { run: [make], timeout: 90s }',
        '    millis: { run: [make], timeout: 120000 }',
        '    default: { run: [make] }',
      ].join('\n'),
      SOURCE,
    );

    expect(Object.fromEntries(Object.entries(config.commands).map(([name, c]) => [name, c.timeoutMs]))).toEqual({
      words: 600_000,
      seconds: 90_000,
      millis: 120_000,
      default: 1_800_000,
    });
  });

  it('gives the defaults when the repository has no .baton.yaml', () => {
    const config = parseRepoConfig(null, SOURCE);

    expect(config).toEqual({
      source: 'none',
      profile: null,
      profiles: DEFAULT_GATE_PROFILES,
      commands: {},
      secretPatterns: [],
    });
    // The defaults are copies: changing one repository's config must not change every other's.
    config.profiles.minimal.push('mutated');
    expect(DEFAULT_GATE_PROFILES.minimal).toEqual(['test']);
  });

  it.each([
    ['an empty file', ''],
    ['a file with only comments', '# gates come later\n'],
    ['empty sections', 'gates:\nsecrets:\n'],
  ])('treats %s as nothing set', (_name, text) => {
    expect(parseRepoConfig(text, SOURCE)).toEqual({
      source: SOURCE,
      profile: null,
      profiles: DEFAULT_GATE_PROFILES,
      commands: {},
      secretPatterns: [],
    });
  });

  it('merges partial profiles with the defaults', () => {
    const config = parseRepoConfig('gates:\n  profiles:\n    minimal: [unit]\n', SOURCE);

    expect(config.profiles).toEqual({ strict: ['typecheck', 'lint', 'test'], standard: ['lint', 'test'], minimal: ['unit'] });
  });

  it('allows a profile with no gates', () => {
    expect(parseRepoConfig('gates: { profiles: { minimal: [] } }', SOURCE).profiles.minimal).toEqual([]);
  });

  it('rejects a shell string for run', () => {
    const error = configError('gates:\n  commands:\n    test: { run: "npm test" }\n');

    expect(error.problems).toEqual([`${SOURCE}: gates.commands.test.run: run must be an argv array, never a shell string`]);
    expect(error.message).toBe(error.problems[0]);
  });

  it.each([
    ['an empty run', 'test: { run: [] }', 'gates.commands.test.run: run must name a program'],
    ['an empty argument', 'test: { run: [npm, ""] }', 'gates.commands.test.run[1]: run elements must not be empty'],
    ['a missing run', 'test: { timeout: 5m }', 'gates.commands.test.run:'],
    ['a bad gate name', '"unit tests": { run: [npm, test] }', 'gates.commands.unit tests: gate names must match'],
  ])('rejects %s', (_name, command, expected) => {
    expect(configError(`gates:\n  commands:\n    ${command}\n`).message).toContain(`${SOURCE}: ${expected}`);
  });

  it.each([
    ['a misspelled section', 'gate:\n  profile: strict\n', '(root): Unrecognized key: "gate"'],
    ['a misspelled gates key', 'gates:\n  comands: {}\n', 'gates: Unrecognized key: "comands"'],
    ['a misspelled command key', 'gates:\n  commands:\n    test: { run: [npm], timout: 5m }\n', 'gates.commands.test: Unrecognized key: "timout"'],
    ['an unknown profile', 'gates:\n  profiles: { strictest: [test] }\n', 'gates.profiles: Unrecognized key: "strictest"'],
    ['a misspelled secrets key', 'secrets:\n  pattern: ["x"]\n', 'secrets: Unrecognized key: "pattern"'],
  ])('rejects %s', (_name, text, expected) => {
    expect(configError(text).problems).toEqual([`${SOURCE}: ${expected}`]);
  });

  it.each([
    ['an unknown unit', '5 fortnights', 'expected a positive duration'],
    ['a word', 'soon', 'expected a positive duration'],
    ['a negative number', '-5', 'expected a positive duration'],
    ['zero', '0', 'expected a positive duration'],
    ['a bare small number (milliseconds)', '30', 'timeout must be at least 1s (a bare number is milliseconds)'],
    ['a list', '[30m]', 'gates.commands.test.timeout:'],
  ])('rejects a timeout that is %s', (_name, timeout, expected) => {
    const error = configError(`gates:\n  commands:\n    test: { run: [npm, test], timeout: ${timeout} }\n`);

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(`${SOURCE}: gates.commands.test.timeout:`);
    expect(error.problems[0]).toContain(expected);
  });

  it('rejects an unknown default profile', () => {
    expect(configError('gates: { profile: strictest }').problems[0]).toMatch(
      /^\.baton\.yaml at 1a2b3c4: gates\.profile: .*"strict"\|"standard"\|"minimal"/,
    );
  });

  it('rejects bad gate names and duplicates in profiles', () => {
    const error = configError('gates:\n  profiles: { strict: [lint, "-x"], minimal: [test, test] }\n');

    expect(error.problems).toEqual([
      `${SOURCE}: gates.profiles.strict[1]: gate names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`,
      `${SOURCE}: gates.profiles.minimal: lists the same gate twice`,
    ]);
  });

  it('rejects invalid secret patterns, naming each', () => {
    const error = configError('secrets:\n  patterns: ["MYCO-[A-Z0-9]{32}", "MYCO-[A-Z", ""]\n');

    expect(error.problems).toHaveLength(2);
    expect(error.problems[0]).toMatch(
      /^\.baton\.yaml at 1a2b3c4: secrets\.patterns\[1\]: secret pattern "MYCO-\[A-Z" is not a valid regular expression/,
    );
    expect(error.problems[1]).toBe(`${SOURCE}: secrets.patterns[2]: secret pattern "" is empty`);
  });

  it('reports every problem at once, one per line of the message', () => {
    const error = configError(
      ['gates:', '  profile: everything', '  commands:', '    test: { run: npm test, timeout: soon }'].join('\n'),
    );

    expect(error.problems).toHaveLength(3);
    expect(error.message).toBe(error.problems.join('\n'));
    expect(error.problems.every((p) => p.startsWith(`${SOURCE}: gates.`))).toBe(true);
  });

  it('reports invalid YAML as a RepoConfigError', () => {
    const error = configError('gates:\n  profile: [strict\n');

    expect(error.message).toMatch(/^\.baton\.yaml at 1a2b3c4: invalid YAML: /);
    expect(error.problems).toEqual([error.message]);
  });

  it('rejects a document that is not a mapping', () => {
    expect(configError('- gates\n').problems).toEqual([`${SOURCE}: (root): Invalid input: expected object, received array`]);
  });
});

describe('resolveGates', () => {
  const config = parseRepoConfig(FULL_EXAMPLE, SOURCE);
  const command = (name: string) => config.commands[name]!;

  it('skips every gate for policy skip, even without a profile or commands', () => {
    expect(resolveGates(config, 'skip')).toEqual({ kind: 'skip' });
    expect(resolveGates(parseRepoConfig(null, SOURCE), 'skip')).toEqual({ kind: 'skip' });
  });

  it("uses the file's profile when the task sets none", () => {
    expect(resolveGates(config, undefined)).toEqual({
      kind: 'run',
      profile: 'standard',
      gates: [
        { name: 'lint', command: command('lint') },
        { name: 'test', command: command('test') },
      ],
    });
  });

  it.each([
    ['strict', ['typecheck', 'lint', 'test']],
    ['standard', ['lint', 'test']],
    ['minimal', ['test']],
  ] as const)('runs the %s profile in its order when the task asks for it', (policy, names) => {
    const resolved = resolveGates(config, policy);

    expect(resolved).toEqual({ kind: 'run', profile: policy, gates: names.map((name) => ({ name, command: command(name) })) });
  });

  it('follows profiles the file redefines', () => {
    const custom = parseRepoConfig(
      'gates:\n  profiles: { minimal: [smoke] }\n  commands: { smoke: { run: [./smoke.sh], timeout: 2m } }\n',
      SOURCE,
    );

    expect(resolveGates(custom, 'minimal')).toEqual({
      kind: 'run',
      profile: 'minimal',
      gates: [{ name: 'smoke', command: { run: ['./smoke.sh'], timeoutMs: 120_000 } }],
    });
  });

  it('says how to set a profile when neither the task nor the file has one', () => {
    const withoutProfile = parseRepoConfig('gates:\n  commands: { test: { run: [npm, test] } }\n', SOURCE);

    const error = gatesProblem(withoutProfile, undefined);

    expect(error.message).toContain(`${SOURCE}: gates.profile: no gate profile is set`);
    expect(error.message).toContain('gates: { profile: standard }');
    expect(error.message).toContain('"skip"');
  });

  it('says the repository has no .baton.yaml when that is why', () => {
    const error = gatesProblem(parseRepoConfig(null, SOURCE), undefined);

    expect(error.message).toMatch(/^the repository has no \.baton\.yaml: /);
  });

  it('names each gate without a command and what to add for it', () => {
    const onlyTest = parseRepoConfig('gates:\n  profile: strict\n  commands: { test: { run: [npm, test] } }\n', SOURCE);

    const error = gatesProblem(onlyTest, undefined);

    expect(error.problems).toEqual([
      `${SOURCE}: gates.commands.typecheck: profile "strict" runs gate "typecheck", which has no command: ` +
        'add `gates: { commands: { typecheck: { run: ["<program>", "<arg>", ...], timeout: 10m } } }` to .baton.yaml, ' +
        'or set policy.gates: "skip"',
      `${SOURCE}: gates.commands.lint: profile "strict" runs gate "lint", which has no command: ` +
        'add `gates: { commands: { lint: { run: ["<program>", "<arg>", ...], timeout: 10m } } }` to .baton.yaml, ' +
        'or set policy.gates: "skip"',
    ]);
    expect(error.message).toBe(error.problems.join('\n'));
  });

  it('lets the policy pick a profile whose gates all have commands', () => {
    const onlyTest = parseRepoConfig('gates:\n  profile: strict\n  commands: { test: { run: [npm, test] } }\n', SOURCE);

    expect(resolveGates(onlyTest, 'minimal')).toMatchObject({ kind: 'run', profile: 'minimal', gates: [{ name: 'test' }] });
  });

  it('does not take a gate named after an Object.prototype member for a command', () => {
    const odd = parseRepoConfig('gates:\n  profiles: { minimal: [constructor] }\n', SOURCE);

    expect(gatesProblem(odd, 'minimal').problems).toHaveLength(1);
  });
});
