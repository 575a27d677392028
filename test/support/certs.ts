/**
 * Test certificates made by `openssl`: a private CA and leaf certificates it signs, in a temporary
 * directory. Fingerprints come from Node's X509Certificate (the same `AA:BB:…` form as openssl's).
 */
import { execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export interface Leaf {
  readonly cert: string
  readonly key: string
  readonly fingerprint256: string
}

export interface TestCa {
  readonly dir: string
  /** The CA certificate (PEM file) that clients trust. */
  readonly caCert: string
  /** A certificate for `names` (DNS names; `127.0.0.1` as an IP SAN), signed by this CA. */
  leaf(name: string, names?: ReadonlyArray<string>, days?: number): Leaf
  /** A self-signed certificate (no CA vouches for it). */
  selfSigned(name: string): Leaf
  cleanup(): void
}

const openssl = (args: ReadonlyArray<string>, cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] })

const fingerprintOf = (certPath: string) => new X509Certificate(fs.readFileSync(certPath)).fingerprint256

export const makeTestCa = (): TestCa => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-tls-"))
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=effect-rtmp test CA"], dir)
  return {
    dir,
    caCert: path.join(dir, "ca.pem"),
    leaf(name, names = ["localhost", "127.0.0.1"], days = 2) {
      const san = names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",")
      fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`)
      openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${names[0] ?? name}`], dir)
      openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", String(days), "-extfile", `${name}.ext`], dir)
      const cert = path.join(dir, `${name}.pem`)
      return { cert, key: path.join(dir, `${name}.key`), fingerprint256: fingerprintOf(cert) }
    },
    selfSigned(name) {
      openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], dir)
      const cert = path.join(dir, `${name}.pem`)
      return { cert, key: path.join(dir, `${name}.key`), fingerprint256: fingerprintOf(cert) }
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}
