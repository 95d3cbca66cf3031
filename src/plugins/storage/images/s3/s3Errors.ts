import { StorageConfigError } from '../../StorageConfigError.js';

/**
 * What an S3 failure is, read from the SDK's error (a service error has a `name` and an HTTP status; a network
 * failure has a Node `code`). Only these names and numbers are ever repeated: an S3 error message can echo a
 * request's details, and nothing from a request may reach a log line or an error.
 */
interface SdkError {
	name?: unknown;
	code?: unknown;
	Code?: unknown;
	$metadata?: { httpStatusCode?: unknown };
	$response?: { headers?: Record<string, string | undefined> };
}

const NETWORK_CODES = new Set([
	'ECONNREFUSED',
	'ENOTFOUND',
	'EAI_AGAIN',
	'ETIMEDOUT',
	'ECONNRESET',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'EPIPE'
]);

export function statusOf(error: unknown): number | undefined {
	const status = (error as SdkError | null)?.$metadata?.httpStatusCode;
	return typeof status === 'number' ? status : undefined;
}

function nameOf(error: unknown): string {
	const { name, Code } = (error ?? {}) as SdkError;
	return typeof Code === 'string' ? Code : typeof name === 'string' ? name : 'Error';
}

/** The object (or bucket) is not there. */
export function isNotFound(error: unknown): boolean {
	const name = nameOf(error);
	return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** A conditional write was refused because the object exists (412), or lost a race with another one (409). */
export function isConditionRefused(error: unknown): boolean {
	const status = statusOf(error);
	return status === 412 || (status === 409 && nameOf(error) === 'ConditionalRequestConflict');
}

/** A short, safe description for logs and messages: `NoSuchBucket (404)`, `ECONNREFUSED`. */
export function describeS3Error(error: unknown): string {
	const code = (error as SdkError | null)?.code;
	if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
	const status = statusOf(error);
	return status === undefined ? nameOf(error) : `${nameOf(error)} (${status})`;
}

export interface S3Context {
	/** `s3://bucket/prefix`. */
	uri: string;
	bucket: string;
	/** The endpoint's URL, or null for AWS S3. */
	endpoint: string | null;
	region: string;
	forcePathStyle: boolean;
}

/**
 * The error an S3 store that cannot be used at start-up gives: what is wrong, named by the variable and the option
 * that set it, and what to do. It is a configuration error (exit code 2), since only the owner can fix it.
 */
export function s3SetupError(error: unknown, context: S3Context): StorageConfigError {
	if (error instanceof StorageConfigError) return error;
	const where = context.endpoint ? `at ${context.endpoint}` : `on AWS S3 (${context.region})`;
	const name = nameOf(error);
	const status = statusOf(error);
	const code = (error as SdkError | null)?.code;
	const said = describeS3Error(error);
	if ((typeof code === 'string' && NETWORK_CODES.has(code)) || name === 'TimeoutError' || name === 'RequestTimeout') {
		const host = context.endpoint ? new URL(context.endpoint).hostname : '';
		const pathStyleHint =
			!context.forcePathStyle && /^(?:\d+\.\d+\.\d+\.\d+|\[.*\]|localhost)$/.test(host)
				? ' A server reached by IP address or localhost needs path-style addressing: set S3_FORCE_PATH_STYLE=true (s3.forcePathStyle).'
				: '';
		return new StorageConfigError(
			`The S3 endpoint cannot be reached (${said}) ${where}: check S3_ENDPOINT (s3.endpoint) and that the server is running.${pathStyleHint}`,
			{ cause: error }
		);
	}
	if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
		return new StorageConfigError(
			`No S3 credentials were found for ${context.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or s3.credentials).`,
			{ cause: error }
		);
	}
	if (name === 'NoSuchBucket' || (status === 404 && name !== 'NoSuchKey')) {
		return new StorageConfigError(
			`The bucket "${context.bucket}" does not exist ${where}: create it, or correct STORAGE_URI (storageUri, now ${context.uri}).`,
			{ cause: error }
		);
	}
	if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
		const region = (error as SdkError).$response?.headers?.['x-amz-bucket-region'];
		return new StorageConfigError(
			`The bucket "${context.bucket}" is not in region ${context.region}${region ? ` but in ${region}` : ''}: set S3_REGION (s3.region).`,
			{ cause: error }
		);
	}
	if (status === 401 || status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied') {
		return new StorageConfigError(
			`The S3 server ${where} refused the credentials for ${context.uri} (${said}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ` +
				'(or s3.credentials), and that they may list, read, write and delete objects in the bucket.',
			{ cause: error }
		);
	}
	return new StorageConfigError(`The S3 store ${context.uri} ${where} cannot be used (${said}).`, { cause: error });
}
