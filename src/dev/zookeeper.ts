import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startProcess, stopProcess, waitUntil } from './processes';

/** A ZooKeeper server this process started, for replicated tables. */
export interface LocalZooKeeper {
  host: string;
  port: number;
  logFile: string;
  stop(): Promise<void>;
}

/** Where Debian's `zookeeper` package puts its jars (`scripts/ensure-tools.sh` installs it). */
const CLASS_PATH = ['/usr/share/java/*', '/usr/share/zookeeper/lib/*'];

/** Java's `QuorumPeerMain` from Debian's package, or `ZOOKEEPER_CLASSPATH` when set. */
function zooKeeperClassPath(): string {
  if (process.env.ZOOKEEPER_CLASSPATH) return process.env.ZOOKEEPER_CLASSPATH;
  if (!existsSync('/usr/share/java/zookeeper.jar')) {
    throw new Error('no ZooKeeper found: run `bash scripts/ensure-tools.sh` (Debian package zookeeper), or set ZOOKEEPER_CLASSPATH');
  }
  return CLASS_PATH.join(':');
}

/** Sends a four-letter word (`ruok`) and resolves with the answer. */
function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(word));
    let answer = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/**
 * Writes a standalone `zoo.cfg` in `dir` (data inside it, no admin server) and starts ZooKeeper
 * on `127.0.0.1:port`. Ready when it answers `ruok` with `imok` (about 6 s here).
 */
export async function startZooKeeper(options: { dir: string; port: number }): Promise<LocalZooKeeper> {
  const { dir, port } = options;
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'zoo.cfg');
  writeFileSync(
    config,
    [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok',
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'zookeeper.log');
  const child = startProcess(
    'java',
    ['-Xmx256m', '-Dzookeeper.log.dir=' + dir, '-cp', zooKeeperClassPath(), 'org.apache.zookeeper.server.quorum.QuorumPeerMain', config],
    { logFile, cwd: dir },
  );
  try {
    await waitUntil(async () => (await fourLetterWord(port, 'ruok')) === 'imok', { timeoutMs: 60_000, what: `ZooKeeper on 127.0.0.1:${port}`, child, logFile });
  } catch (err) {
    await stopProcess(child, 2_000);
    throw err;
  }
  return { host: '127.0.0.1', port, logFile, stop: () => stopProcess(child, 10_000) };
}
