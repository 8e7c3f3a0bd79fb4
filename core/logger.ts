import pino from 'pino';

const requested = process.env.RAGLINE_LOG_LEVEL?.trim() ?? '';
// An unknown level would make pino throw while this module loads, before any command could explain it.
const known = requested === '' || requested in pino.levels.values || requested === 'silent';

/** Structured JSON logs on stderr (stdout stays for command output). Level from RAGLINE_LOG_LEVEL. */
export const logger = pino({ name: 'ragline', level: known && requested ? requested : 'info' }, pino.destination({ fd: 2, sync: false }));

if (!known) {
  logger.warn(
    { RAGLINE_LOG_LEVEL: requested.slice(0, 40), levels: [...Object.keys(pino.levels.values), 'silent'] },
    'RAGLINE_LOG_LEVEL is not a log level; logging at info',
  );
}
