import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of one certificate and its key, with their paths. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A throwaway CA for tests that signs server and client certificates (openssl, EC P-256). */
export class TestCa {
  private constructor(
    readonly dir: string,
    readonly ca: CertFiles,
  ) {}

  static create(name = 'test-ca'): TestCa {
    const dir = mkdtempSync(join(tmpdir(), `${name}-`));
    const keyFile = join(dir, 'ca.key');
    const certFile = join(dir, 'ca.pem');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    openssl(['req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', '2', '-subj', `/CN=${name}`, '-out', certFile]);
    return new TestCa(dir, load(certFile, keyFile));
  }

  /** A certificate for `name`, valid for localhost and 127.0.0.1, usable as server and client. */
  issue(name: string): CertFiles {
    const keyFile = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const certFile = join(this.dir, `${name}.pem`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
    openssl(['x509', '-req', '-in', csr, '-CA', this.ca.certFile, '-CAkey', this.ca.keyFile, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', certFile]);
    return load(certFile, keyFile);
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function load(certFile: string, keyFile: string): CertFiles {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
