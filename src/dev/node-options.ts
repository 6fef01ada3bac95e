/**
 * The V8 options the worker and the API run with wherever they are deployed: the Dockerfile sets
 * the same `NODE_OPTIONS` (a unit test keeps the two equal), `npm start` and `npm run bench` pass
 * them to the processes they start.
 *
 * A young generation of 1 MiB: a copy on the worker path moves its data through socket Buffers
 * whose memory is freed only when their small wrappers are collected; with V8's default young
 * generation those pile up for tens of MiB between collections. Measured with `npm run bench`
 * (big scenario, worker path): peak RSS about 210 MiB by default, about 190 MiB with this.
 */
export const DEPLOYED_NODE_OPTIONS = '--max-semi-space-size=1';

/** `env` with {@link DEPLOYED_NODE_OPTIONS} added to whatever NODE_OPTIONS it already has. */
export function withDeployedNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, NODE_OPTIONS: [env.NODE_OPTIONS, DEPLOYED_NODE_OPTIONS].filter(Boolean).join(' ') };
}
