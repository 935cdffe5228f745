import { createTestDatabase, mysqlSkip } from '../helpers/mysql.js';
import { runStorageContract } from './storage.contract.js';

runStorageContract('mysql', createTestDatabase, { skip: await mysqlSkip() });
