import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces travel as an encoded payload, so the payload codec encrypts
 * them like any other data. Loaded by path into the workflow sandbox (see `failureConverterPath`
 * in src/worker-factory.ts), so it imports nothing but the SDK.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
