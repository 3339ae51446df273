// A tiny HTTP/1.1 forwarding proxy that can lose answers: each request is
// forwarded to the daemon on a new connection and its whole answer read;
// while `drop` > 0 the answer is thrown away and the client's connection
// destroyed instead (the request reached the daemon, its reply was lost).
import net from 'node:net';

function takeMessage(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const total = end + 4 + (m ? Number(m[1]) : 0);
  if (buf.length < total) return null;
  return [buf.subarray(0, total), buf.subarray(total)];
}

export class DropProxy {
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.drop = 0;
    this.dropped = 0;
    this.forwarded = 0;
    this.sockets = new Set();
    this.server = net.createServer((c) => {
      this.sockets.add(c);
      c.on('close', () => this.sockets.delete(c));
      this.serve(c);
    });
  }

  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  forward(req) {
    return new Promise((resolve, reject) => {
      const u = net.connect(this.upstreamPort, '127.0.0.1', () => u.write(req));
      let buf = Buffer.alloc(0);
      u.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const msg = takeMessage(buf);
        if (msg) { u.destroy(); resolve(msg[0]); }
      });
      u.on('error', reject);
      u.on('close', () => reject(new Error('upstream closed')));
    });
  }

  serve(c) {
    let buf = Buffer.alloc(0);
    let busy = Promise.resolve();
    c.on('error', () => {});
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (let msg; (msg = takeMessage(buf)); ) {
        const [req, rest] = msg;
        buf = rest;
        busy = busy.then(async () => {
          const resp = await this.forward(req);
          this.forwarded++;
          if (this.drop > 0) {
            this.drop--;
            this.dropped++;
            c.destroy();
          } else if (!c.destroyed) {
            c.write(resp);
          }
        }).catch(() => c.destroy());
      }
    });
  }

  close() {
    for (const c of this.sockets) c.destroy();
    return new Promise((r) => this.server.close(r));
  }
}
