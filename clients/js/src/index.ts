export { createClient, AuthgateClient } from './client.js';
export type { AuthChangeEvent, AuthSession, ClientOptions, Session, User } from './client.js';
export { AuthgateError, isUnauthenticated } from './errors.js';
export type { AuthgateErrorCode } from './errors.js';
export type { StorageLike, StorageOption } from './storage.js';
