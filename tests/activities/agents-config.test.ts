import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AgentsConfigError,
  findAgent,
  getAgent,
  loadAgentsFile,
  parseAgentsConfig,
  resolveCommand,
} from '../../activities/agents/config';

const DEMO_AGENTS_FILE = path.resolve(__dirname, '../../agents/agents.yaml');

/** The error message `parseAgentsConfig` throws for `yaml`, or fails the test if it accepts it. */
function configError(yaml: string, source = 'agents.yaml'): string {
  try {
    parseAgentsConfig(yaml, source);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentsConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('agents.yaml', () => {
  it('parses a valid file and applies defaults', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-agents-config-'));
    const file = path.join(dir, 'agents.yaml');
    fs.writeFileSync(
      file,
      [
        'agents:',
        '  - name: coder',
        '    roles: [implement]',
        '    capabilities: [backend]',
        '    maxConcurrent: 2',
        '    command: ["node", "agents/coder.mjs"]',
        '    env: { SOME_VAR: "value" }',
        '  - name: reviewer',
        '    roles: [review, define]',
        '    command: ["reviewer-bin", "--fast"]',
        '    cwd: ./sandbox',
      ].join('\n'),
    );

    const config = loadAgentsFile(file);

    expect(config.baseDir).toBe(dir);
    expect(config.agents).toEqual([
      {
        name: 'coder',
        roles: ['implement'],
        capabilities: ['backend'],
        maxConcurrent: 2,
        command: ['node', 'agents/coder.mjs'],
        env: { SOME_VAR: 'value' },
        baseDir: dir,
      },
      {
        name: 'reviewer',
        roles: ['review', 'define'],
        capabilities: [],
        maxConcurrent: 1,
        command: ['reviewer-bin', '--fast'],
        env: {},
        cwd: path.join(dir, 'sandbox'),
        baseDir: dir,
      },
    ]);
    expect(findAgent(config, 'reviewer')?.roles).toEqual(['review', 'define']);
    expect(findAgent(config, 'nobody')).toBeUndefined();
    expect(() => getAgent(config, 'nobody')).toThrow(/no agent named "nobody" \(agents: coder, reviewer\)/);
  });

  it('rejects a shell string command, naming the file and the field', () => {
    const message = configError('agents:\n  - name: coder\n    roles: [implement]\n    command: "node coder.mjs"\n');
    expect(message).toBe('agents.yaml: agents[0].command: command must be an argv array, never a shell string');
  });

  it('rejects duplicate names', () => {
    const message = configError(
      [
        'agents:',
        '  - { name: coder, roles: [implement], command: [a] }',
        '  - { name: other, roles: [review], command: [b] }',
        '  - { name: coder, roles: [review], command: [c] }',
      ].join('\n'),
    );
    expect(message).toBe('agents.yaml: agents[2].name: duplicate agent name "coder" (also agents[0])');
  });

  it('rejects an unknown role, naming the field', () => {
    const message = configError('agents:\n  - { name: coder, roles: [implement, deploy], command: [a] }\n');
    expect(message).toMatch(/^agents\.yaml: agents\[0\]\.roles\[1\]: /);
    expect(message).toContain('"review"');
  });

  it('names every problem and rejects unknown fields and bad values', () => {
    const message = configError(
      'agents:\n  - { name: "-bad", roles: [], command: [a], maxConcurrent: 0, env: { N: 1 }, extra: true }\n',
    );
    const lines = message.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^agents\.yaml: agents\[0\]\.name: /),
        expect.stringMatching(/^agents\.yaml: agents\[0\]\.roles: /),
        expect.stringMatching(/^agents\.yaml: agents\[0\]\.maxConcurrent: /),
        expect.stringMatching(/^agents\.yaml: agents\[0\]\.env\.N: /),
        expect.stringMatching(/^agents\.yaml: agents\[0\]: Unrecognized key: "extra"/),
      ]),
    );
  });

  it('rejects invalid YAML and an empty file', () => {
    expect(configError('agents: [\n')).toMatch(/^agents\.yaml: invalid YAML: /);
    expect(configError('')).toMatch(/^agents\.yaml: agents: /);
  });

  it('loads the demo deployment and resolves its scripts next to the file', () => {
    const config = loadAgentsFile(DEMO_AGENTS_FILE);
    expect(config.agents.map((agent) => [agent.name, agent.roles, agent.maxConcurrent])).toEqual([
      ['planner', ['define'], 1],
      ['coder', ['implement'], 4],
      ['reviewer', ['review'], 4],
    ]);
    expect(resolveCommand(getAgent(config, 'coder'))).toEqual([
      'node',
      path.join(path.dirname(DEMO_AGENTS_FILE), 'coder.mjs'),
    ]);
    // Arguments that are not existing paths stay as written.
    expect(resolveCommand({ command: ['node', './missing.mjs', '--flag'], baseDir: config.baseDir })).toEqual([
      'node',
      './missing.mjs',
      '--flag',
    ]);
  });
});
