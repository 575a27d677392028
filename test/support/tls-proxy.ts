/** A TLS-terminating TCP proxy on a loopback port (what users put in front of nginx-rtmp: stunnel). */
import * as fs from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"

export interface TlsProxy {
  readonly port: number
  close(): Promise<void>
}

export const startTlsProxy = (certPath: string, keyPath: string, targetPort: number): Promise<TlsProxy> =>
  new Promise((resolve) => {
    const sockets = new Set<net.Socket>()
    const server = tls.createServer({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) }, (client) => {
      const upstream = net.connect({ host: "127.0.0.1", port: targetPort })
      sockets.add(client).add(upstream)
      client.pipe(upstream).pipe(client)
      const drop = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", drop).on("close", drop)
      upstream.on("error", drop).on("close", drop)
    })
    server.on("tlsClientError", () => {})
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise((done) => {
            sockets.forEach((s) => s.destroy())
            server.close(() => done())
          })
      })
    )
  })

/** The SHA-256 fingerprint a fresh TLS connection to `port` is shown (no verification). */
export const presentedFingerprint = (port: number, servername = "localhost"): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256
      socket.destroy()
      resolve(fingerprint)
    })
    socket.on("error", reject)
  })
