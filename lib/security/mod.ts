/**
 * Security: the cluster PKI, bearer tokens and roles, the gossip keyring file
 * format and `elasticore init`.
 *
 * @module
 */
export * from "./pki.ts";
export * from "./tokens.ts";
export * from "./roles.ts";
export * from "./keyring.ts";
export * from "./init.ts";
export { SECRET_MODE, writeSecretFile } from "./files.ts";
