import { once } from 'node:events';
import net from 'node:net';
import { Firestore } from '@google-cloud/firestore';

/**
 * A TCP proxy in front of an emulator that can stall: while stalled it accepts connections and bytes but
 * forwards nothing, in either direction, as a process stopped by SIGSTOP would behave; on resume it forwards
 * everything it held, in order (so a write sent during the stall may still apply, late). Tests use it to
 * stall one gateway's Firestore without stopping the emulator every other test shares.
 */
export type StallableProxy = {
  /** host:port to point a client at. */
  host: string;
  stall(): void;
  resume(): void;
  close(): Promise<void>;
};

export async function startStallableProxy(target: string): Promise<StallableProxy> {
  const [targetHost, targetPort] = splitHost(target);
  let stalled = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const forward = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (stalled) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
    from.on('close', () => {
      if (stalled) held.push(() => to.destroy());
      else to.destroy();
    });
    from.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    forward(client, upstream);
    forward(upstream, client);
  });
  server.listen({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  return {
    host: `127.0.0.1:${address.port}`,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const write of held.splice(0)) write();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A Firestore client for the emulator behind `host` (a proxy). The SDK prefers FIRESTORE_EMULATOR_HOST over
 * its settings and reads it only in the constructor, so it is swapped for the construction alone.
 */
export function firestoreVia(host: string, projectId: string): Firestore {
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = host;
  try {
    return new Firestore({ projectId, ignoreUndefinedProperties: true });
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
}

function splitHost(host: string): [string, number] {
  const at = host.lastIndexOf(':');
  return [host.slice(0, at), Number(host.slice(at + 1))];
}
