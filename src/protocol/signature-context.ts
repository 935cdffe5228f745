/** The transcript signature contexts (docs/PROTOCOL.md §2.4/2.5), in a module without node:* so the browser shares them. */
export const SERVER_CONTEXT = 'SecureChat v1 server';
export const CLIENT_CONTEXT = 'SecureChat v1 client';
