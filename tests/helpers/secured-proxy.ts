/**
 * A stand-in for a secured Temporal cluster in front of the run's dev server (which speaks plaintext and
 * checks nothing): a gRPC proxy that terminates TLS, requires a client certificate signed by its CA (mTLS)
 * and an API key (`authorization: Bearer <key>`, what Temporal's clients send for TEMPORAL_API_KEY), and
 * forwards each HTTP/2 stream — headers, messages, trailers — to the dev server. Certificates come from the
 * `openssl` command line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

/** Why test certificates cannot be made here (no openssl), or null. */
export function opensslUnavailable(): string | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'the openssl command line is not installed';
  }
}

export interface TestCertificates {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for `serverName` and a client certificate for `clientName`, as PEM files in `dir`. */
export function makeCertificates(dir: string, names: { serverName: string; clientName: string }): TestCertificates {
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...keyArgs, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=baton test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, cn: string, extensions: string) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(['req', ...keyArgs, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  };
  leaf('server', names.serverName, `basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:${names.serverName}\nextendedKeyUsage=serverAuth\n`);
  leaf('client', names.clientName, `basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n`);
  const file = (name: string) => path.join(dir, name);
  return {
    caCert: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
  };
}

export interface SecuredProxy {
  host: string;
  port: number;
  /** gRPC calls forwarded (the API key and a client certificate were there). */
  forwarded(): number;
  /** gRPC calls refused for a missing or wrong API key. */
  refused(): number;
  /** The common names of the client certificates of every TLS session. */
  clientNames(): string[];
  /** The remote addresses of every TLS session. */
  peers(): string[];
  close(): Promise<void>;
}

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Headers without HTTP/2 pseudo-headers (`:status` kept when asked). */
function plain(headers: http2.IncomingHttpHeaders, keepStatus = false): http2.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':') || (keepStatus && name === ':status')));
}

/** Listens on `host:0` with TLS (`certs`, client certificates required) and forwards calls carrying `apiKey` to `target`. */
export async function startSecuredProxy(
  host: string,
  target: { host: string; port: number },
  options: { certs: TestCertificates; apiKey: string },
): Promise<SecuredProxy> {
  let upstream: http2.ClientHttp2Session | undefined;
  const session = () => {
    if (!upstream || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(`http://${target.host}:${target.port}`);
      upstream.on('error', () => undefined);
    }
    return upstream;
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  const clientNames: string[] = [];
  const peers: string[] = [];
  let forwarded = 0;
  let refused = 0;

  const server = http2.createSecureServer({
    key: fs.readFileSync(options.certs.serverKey),
    cert: fs.readFileSync(options.certs.serverCert),
    ca: fs.readFileSync(options.certs.caCert),
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('session', (serverSession) => {
    sessions.add(serverSession);
    serverSession.once('close', () => sessions.delete(serverSession));
    serverSession.on('error', () => undefined);
    const socket = serverSession.socket as TLSSocket;
    peers.push(socket.remoteAddress ?? '?');
    clientNames.push(String(socket.getPeerCertificate().subject?.CN ?? ''));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    if (headers.authorization !== `Bearer ${options.apiKey}`) {
      refused += 1;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'missing or wrong API key' }, { endStream: true });
      return;
    }
    forwarded += 1;
    const call = session().request({ ':method': headers[':method'], ':path': headers[':path'], ...plain(headers) });
    call.on('error', () => {
      if (!stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    stream.once('close', () => {
      if (!call.closed) call.close(NGHTTP2_CANCEL);
    });
    call.once('close', () => {
      if (!stream.closed && !stream.headersSent) stream.close(call.rstCode ?? NGHTTP2_INTERNAL_ERROR);
    });
    stream.pipe(call);
    let trailers: http2.IncomingHttpHeaders = {};
    call.on('trailers', (received: http2.IncomingHttpHeaders) => {
      trailers = received;
    });
    stream.on('wantTrailers', () => stream.sendTrailers(plain(trailers)));
    call.once('response', (response, flags) => {
      if (stream.closed) return;
      // A trailers-only answer (a gRPC error) ends with its headers.
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        stream.respond(plain(response, true), { endStream: true });
        return;
      }
      stream.respond(plain(response, true), { waitForTrailers: true });
      call.pipe(stream);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    forwarded: () => forwarded,
    refused: () => refused,
    clientNames: () => [...clientNames],
    peers: () => [...peers],
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const serverSession of sessions) serverSession.destroy();
      upstream?.destroy();
      await closed;
    },
  };
}
