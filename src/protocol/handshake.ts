/** Both roles of the protocol v1 handshake; see handshake-server.ts and handshake-client.ts. */
export { serverHandshake } from './handshake-server.js';
export { clientHandshake } from './handshake-client.js';
