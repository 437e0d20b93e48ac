export { createClient, AuthgateClient } from './client.js';
export { AuthgateError, isUnauthenticated } from './errors.js';
