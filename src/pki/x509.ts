/**
 * The one place that loads @peculiar/x509 for the generators: it needs reflect-metadata first and
 * a WebCrypto provider. Import `x509` from here, never from the package directly.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
