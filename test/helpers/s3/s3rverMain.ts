import S3rver from 's3rver';

/*
 * s3rver as a process of its own, started by test/helpers/s3Server.ts: `node --openssl-legacy-provider --import tsx
 * s3rverMain.ts <directory> <port>`. Its own process because s3rver builds ListObjectsV2 continuation tokens with
 * DES, which Node's OpenSSL 3 offers only with the legacy provider (without it, every listing past one page answers
 * 500), and so a test can stop the server and start it again to play an outage. Prints `{"port":N}` once listening;
 * exits when its parent closes stdin or on SIGTERM.
 */
const [directory, port] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port ?? 0), silent: true, directory });
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

const stop = () => {
	void server.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
