import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_KEYS } from '../../src/config';

const root = join(__dirname, '..', '..');

function composeConfig(env: NodeJS.ProcessEnv): string {
  return execFileSync('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config'], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('docker-compose.yml', () => {
  it('is a valid compose file when MIGRATOR_SECRET_KEY is set', () => {
    expect(() =>
      execFileSync('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], {
        env: { PATH: process.env.PATH, MIGRATOR_SECRET_KEY: 'a-key-of-twenty-chars' },
        stdio: 'pipe',
      }),
    ).not.toThrow();
  });

  it('refuses to start without MIGRATOR_SECRET_KEY, naming the variable', () => {
    expect(() => composeConfig({})).toThrow(/MIGRATOR_SECRET_KEY/);
  });

  it('wires every environment variable the worker and the API read', () => {
    const rendered = composeConfig({ MIGRATOR_SECRET_KEY: 'a-key-of-twenty-chars' });
    const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    for (const key of CONFIG_KEYS) expect({ key, wired: compose.includes(`${key}:`) && rendered.includes(key) }).toEqual({ key, wired: true });
  });
});
