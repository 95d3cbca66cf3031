import { S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import type { s3OptionsSchema } from '../../options.js';

export type S3Settings = z.output<typeof s3OptionsSchema>;

/** A server that accepts the connection but never answers must not hold a save or a reconcile forever. */
const CONNECT_TIMEOUT_MS = 5000;
/** Silence on an open connection (headers or body) before the request is given up. */
const IDLE_TIMEOUT_MS = 30_000;
/** A whole request, a large image over a slow link included. */
const REQUEST_TIMEOUT_MS = 120_000;
/** The SDK's own retries of throttling, 5xx answers and dropped connections (with back-off): one try and two more. */
const MAX_ATTEMPTS = 3;

/**
 * The AWS SDK client for an S3-compatible store. Credentials come from the options when given, else from the SDK's
 * own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, shared config files, instance roles).
 * The checksum settings likewise fall back to the SDK's AWS_REQUEST_CHECKSUM_CALCULATION and
 * AWS_RESPONSE_CHECKSUM_VALIDATION, which is how stores that keep aws-chunked framing as content are told
 * `WHEN_REQUIRED`.
 */
export function createS3Client(settings: S3Settings): S3Client {
	return new S3Client({
		region: settings.region,
		forcePathStyle: settings.forcePathStyle,
		maxAttempts: MAX_ATTEMPTS,
		requestHandler: {
			connectionTimeout: CONNECT_TIMEOUT_MS,
			socketTimeout: IDLE_TIMEOUT_MS,
			requestTimeout: REQUEST_TIMEOUT_MS,
			throwOnRequestTimeout: true
		},
		...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
		// A copy: the SDK marks the credentials object it is given (`$source`), and options must stay as they were parsed.
		...(settings.credentials ? { credentials: { ...settings.credentials } } : {}),
		...(settings.requestChecksumCalculation ? { requestChecksumCalculation: settings.requestChecksumCalculation } : {}),
		...(settings.responseChecksumValidation ? { responseChecksumValidation: settings.responseChecksumValidation } : {})
	});
}
