import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP server for the contract fakes: on 127.0.0.1, at a port the system picks when it starts. */
export class LocalServer {
  private server: http.Server | undefined;

  constructor(private readonly handler: http.RequestListener) {}

  /** http://127.0.0.1:<port>, once started. */
  get origin(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer(this.handler);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  /** Closes the server, dropping connections still open (a hung response, a keep-alive socket). */
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
