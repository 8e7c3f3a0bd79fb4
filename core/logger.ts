import pino from 'pino';

/** Structured JSON logs on stderr (stdout stays for command output). Level from RAGLINE_LOG_LEVEL. */
export const logger = pino({ name: 'ragline', level: process.env.RAGLINE_LOG_LEVEL ?? 'info' }, pino.destination({ fd: 2, sync: false }));
