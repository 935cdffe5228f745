import { tempSqlite } from '../helpers/sqlite.js';
import { runStorageContract } from './storage.contract.js';

runStorageContract('sqlite', async () => tempSqlite());
