import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app';
import { startApiStack, type ApiStack } from '../helpers/api';

describe('REST API: health and documentation', () => {
  let api: ApiStack;
  beforeAll(async () => {
    api = await startApiStack({ agents: [] });
  });
  afterAll(() => api?.stop());

  it('GET /healthz answers 200 when Temporal is reachable', async () => {
    const response = await api.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<unknown>()).toEqual({ ok: true, temporal: 'reachable' });
  });

  describe('with a client whose server is gone', () => {
    let connection: Connection;
    let app: FastifyInstance;
    beforeAll(async () => {
      // Nothing listens on port 1; a lazy connection lets the app be built all the same.
      connection = Connection.lazy({ address: '127.0.0.1:1' });
      app = await buildApp({
        client: new Client({ connection, namespace: 'default' }),
        taskQueue: 'nowhere',
        callTimeoutMs: 1_000,
      });
    });
    afterAll(async () => {
      await app?.close();
      await connection?.close();
    });

    it('GET /healthz answers 503', async () => {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json<unknown>()).toEqual({ ok: false, temporal: 'unreachable' });
    });

    it('answers 503 TemporalUnavailable on task routes, without internals', async () => {
      const read = await app.inject({ method: 'GET', url: '/tasks/T-1' });
      expect(read.statusCode, read.body).toBe(503);
      expect(read.json<unknown>()).toEqual({ error: 'TemporalUnavailable' });
      const start = await app.inject({ method: 'POST', url: '/tasks', payload: { title: 'nowhere to go' } });
      expect(start.statusCode, start.body).toBe(503);
    });
  });

  it('GET /docs serves the Swagger UI', async () => {
    const response = await api.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('swagger-ui');
  });

  it('GET /docs/json lists the routes of the contract', async () => {
    const response = await api.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode, response.body).toBe(200);
    const doc = response.json<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Baton');
    expect(Object.keys(doc.paths['/tasks'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/tasks/{taskId}'] ?? {})).toEqual(['get']);
    expect(Object.keys(doc.paths['/tasks/{taskId}/signals/{name}'] ?? {})).toEqual(['post']);
    expect(Object.keys(doc.paths['/healthz'] ?? {})).toEqual(['get']);
  });
});
