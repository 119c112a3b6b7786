/**
 * How Baton finds the Temporal CLI on a machine without one: the official release from the download service
 * where it can be reached (here: a local stand-in serving a real tar.gz with a CLI in it), a build from source
 * only where it cannot, and a clear error where neither works. Telling the two apart takes one request.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeOfficialDownload, resolveTemporalCli } from '../../temporal/cli';

describe('resolving the Temporal CLI', () => {
  let server: Server;
  let archiveUrl: string;

  beforeAll(async () => {
    // A release archive as the download service serves it: a tar.gz holding the `temporal` executable.
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-release-'));
    mkdirSync(join(dir, 'pkg'));
    writeFileSync(join(dir, 'pkg', 'temporal'), '#!/bin/sh\necho "temporal version 9.9.9 (stand-in)"\n', { mode: 0o755 });
    execFileSync('tar', ['-czf', join(dir, 'release.tar.gz'), '-C', join(dir, 'pkg'), 'temporal']);
    const archive = readFileSync(join(dir, 'release.tar.gz'));
    server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/gzip' }).end(archive));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    archiveUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/temporal_cli_linux_amd64.tar.gz`;
  });
  afterAll(() => server?.close());

  const emptyEnv = () => ({ PATH: '/nonexistent', BATON_CACHE_DIR: mkdtempSync(join(tmpdir(), 'baton-cache-')) });

  it('downloads the official release into the cache where the download service answers, and reuses it after', async () => {
    const env = emptyEnv();
    const lines: string[] = [];
    const resolved = await resolveTemporalCli({ env, log: (l) => lines.push(l), probeDownload: async () => ({ archive_url: archiveUrl, file_to_extract: 'temporal' }) });
    expect(resolved).toEqual({ kind: 'executable', path: join(env.BATON_CACHE_DIR, 'bin', 'temporal'), source: 'download' });
    expect(statSync(resolved.path).mode & 0o111).not.toBe(0);
    expect(execFileSync(resolved.path, { encoding: 'utf8' })).toContain('9.9.9 (stand-in)');
    expect(lines.join('\n')).toContain('downloading the official Temporal CLI');
    const again = await resolveTemporalCli({ env, probeDownload: () => Promise.reject(new Error('must not be asked')) });
    expect(again.source).toBe('cache');
  });

  it('without the download service and without Go, says what to do', async () => {
    await expect(resolveTemporalCli({ env: emptyEnv(), probeDownload: async () => null })).rejects.toThrow(
      'no Temporal CLI: set TEMPORAL_CLI_PATH, put `temporal` on PATH, allow https://temporal.download, or install Go to build it from source',
    );
  });

  it('a failed download falls back to building from source (here: no Go, so the error)', async () => {
    const lines: string[] = [];
    await expect(
      resolveTemporalCli({ env: emptyEnv(), log: (l) => lines.push(l), probeDownload: async () => ({ archive_url: `${archiveUrl}.missing`, file_to_extract: 'nope' }) }),
    ).rejects.toThrow(/no Temporal CLI/);
    expect(lines.join('\n')).toContain('the official download failed');
  });

  it('tells whether the download service is reachable with one request (3 s deadline), and can be told not to ask', async () => {
    const started = Date.now();
    const info = await probeOfficialDownload(process.env);
    const ms = Date.now() - started;
    console.log(`download service ${info ? 'reachable' : 'unreachable'}: told in ${ms} ms`);
    if (info) expect(info.archive_url).toMatch(/^https:\/\//);
    expect(await probeOfficialDownload({ BATON_TEMPORAL_CLI_DOWNLOAD: 'off' })).toBeNull();
  });
});
