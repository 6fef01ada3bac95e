import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOYED_NODE_OPTIONS, withDeployedNodeOptions } from '../../src/dev/node-options';

describe('the deployed V8 options', () => {
  it('are the ones the Dockerfile sets for the image the worker and the API run from', () => {
    const dockerfile = readFileSync(join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^\\s*NODE_OPTIONS=${DEPLOYED_NODE_OPTIONS} `, 'm'));
  });

  it('are added to the NODE_OPTIONS a caller already has, which stay', () => {
    expect(withDeployedNodeOptions({ PATH: '/bin' })).toEqual({ PATH: '/bin', NODE_OPTIONS: DEPLOYED_NODE_OPTIONS });
    expect(withDeployedNodeOptions({ NODE_OPTIONS: '--enable-source-maps' }).NODE_OPTIONS).toBe(`--enable-source-maps ${DEPLOYED_NODE_OPTIONS}`);
  });
});
