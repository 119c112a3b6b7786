/** A local webhook receiver for escalation notices; it can refuse the first requests to prove retries. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedNotice {
  at: number;
  body: { text: string; kind: string; taskId: string; reason: string; notification: number } & Record<string, unknown>;
}

export interface Webhook {
  url: string;
  received: ReceivedNotice[];
  /** Requests answered 503 so far. */
  refused: number;
  forTask(taskId: string): ReceivedNotice[];
  close(): Promise<void>;
}

export async function startWebhook(options: { refuseFirst?: number } = {}): Promise<Webhook> {
  const received: ReceivedNotice[] = [];
  const state = { refused: 0 };
  const server: Server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      if (state.refused < (options.refuseFirst ?? 0)) {
        state.refused += 1;
        response.writeHead(503).end();
        return;
      }
      received.push({ at: Date.now(), body: JSON.parse(raw) as ReceivedNotice['body'] });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    get refused() {
      return state.refused;
    },
    forTask: (taskId) => received.filter((notice) => notice.body.taskId === taskId),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
