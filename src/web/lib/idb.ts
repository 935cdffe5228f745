/**
 * A tiny IndexedDB key-value store for the page's identity: the non-extractable CryptoKey (stored
 * as the key object itself, which IndexedDB keeps by structured clone without ever exposing its
 * bytes), the certificate chain and the trust anchors.
 */
const DB_NAME = 'securechat';
const STORE = 'kv';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = op(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result as T);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const kvGet = <T>(key: string): Promise<T | undefined> => run<T | undefined>('readonly', (s) => s.get(key));
export const kvSet = (key: string, value: unknown): Promise<void> => run<void>('readwrite', (s) => s.put(value, key));
export const kvDelete = (key: string): Promise<void> => run<void>('readwrite', (s) => s.delete(key));
