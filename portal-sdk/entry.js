// The portal's only use of Privy's browser SDK: email sign-in against the app's auth API.
// Bundled into ../orchestrator/web/static/privy-sdk.js (see package.json); the portal imports it on demand.
import Privy, { InMemoryCache } from "@privy-io/js-sdk-core";

/**
 * A Privy client for `appId` whose auth API is at `apiUrl` (https://auth.privy.io, or the devnet's).
 * Tokens are kept in memory only: the page hands the access token to the control plane, which keeps
 * its own session; nothing of Privy's stays in the browser's storage.
 */
export function privyClient(appId, apiUrl) {
  return new Privy({ appId, baseUrl: apiUrl, storage: new InMemoryCache() });
}
