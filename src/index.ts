import './lib/setup/plugins.js';
import { createLogger, logOutputFor } from './lib/logger.js';
import { createClient } from './lib/setup/client.js';
import { readConfiguration } from './lib/setup/configuration.js';
import { loginOrExit } from './lib/setup/login.js';
import { handleShutdownSignals } from './lib/setup/shutdown.js';

const { config, token } = readConfiguration();
const logger = createLogger({ level: config.logLevel, secrets: config.secrets, ...logOutputFor(config.logFormat, process.stdout) });
const client = createClient(config, logger);
handleShutdownSignals(client, logger);
await loginOrExit(client, token, logger);
