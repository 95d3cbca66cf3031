/**
 * `s3://bucket/prefix`: where an S3-compatible image store keeps its objects. Every key the store writes is
 * `<prefix>/<relative path from records.ts>`, so the prefix is checked here once and for all: plain segments only
 * (no empty, `.` or `..` segment, no character S3 documents as needing special handling), so that no key can be read
 * as another folder's by a server or a tool that maps keys onto a file system.
 */
export interface S3Location {
	bucket: string;
	/** Without leading or trailing slashes; '' when the store has the whole bucket. */
	prefix: string;
}

export const S3_URI_EXAMPLE = 's3://my-bucket/imagine';

/** Bucket names as AWS S3, R2, MinIO and B2 accept them (3 to 63 characters; older AWS buckets may use capitals and `_`). */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;
/** S3's "safe characters" for key names. */
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;
const MAX_PREFIX_LENGTH = 512;

/** The bucket and prefix of an `s3://` URI, or what is wrong with it (a sentence for an option error). */
export function parseS3Uri(uri: string): S3Location | { problem: string } {
	const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri);
	if (!match) return { problem: `expected s3://bucket/prefix, e.g. ${S3_URI_EXAMPLE}` };
	const bucket = match[1] as string;
	if (!BUCKET.test(bucket) || bucket.includes('..')) {
		return { problem: `expected a bucket name of 3 to 63 letters, digits, dots and dashes after s3://, e.g. ${S3_URI_EXAMPLE}` };
	}
	const prefix = (match[2] ?? '').replace(/\/+$/, '');
	if (prefix.length > MAX_PREFIX_LENGTH) return { problem: `expected a prefix of at most ${MAX_PREFIX_LENGTH} characters` };
	if (prefix !== '') {
		for (const segment of prefix.split('/')) {
			if (!PREFIX_SEGMENT.test(segment) || segment === '.' || segment === '..') {
				return {
					problem:
						'expected a prefix of plain folder names (letters, digits and !_.*\'()-, no empty, "." or ".." part), e.g. ' + S3_URI_EXAMPLE
				};
			}
		}
	}
	return { bucket, prefix };
}

/** `s3://bucket/prefix`, normalised. */
export function formatS3Uri(location: S3Location): string {
	return location.prefix ? `s3://${location.bucket}/${location.prefix}` : `s3://${location.bucket}`;
}
