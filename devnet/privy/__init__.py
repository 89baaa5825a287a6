"""Privy on loopback (`http://127.0.0.1:3003`): email sign-in, tokens, users, wallets and signing.

Both of Privy's hosts are served on one port with Privy's real paths, headers and fields, so a
client switches between the devnet and Privy by its two base URLs only:

    auth API  (https://auth.privy.io)  POST /api/v1/passwordless/init        {email}
                                       POST /api/v1/passwordless/authenticate {email, code, mode?}
                                       POST /api/v1/sessions                  {refresh_token}
                                       POST /api/v1/sessions/logout           Bearer
                                       GET  /api/v1/users/me                  Bearer
                                       GET  /api/v1/apps/{app_id}/jwks.json
                                       GET  /api/v1/apps/{app_id}             (the SDK's app config)
                                       POST /api/v1/analytics_events          (the SDK's, ignored)
              every call but the JWKS needs the header `privy-app-id` and an allowed `Origin`
              (CORS as a production app with allowed origins: see `origins`).
    REST API  (https://api.privy.io)   Basic base64(app_id:app_secret) + `privy-app-id`:
                                       GET  /v1/apps/{app_id}            (verification_key)
                                       GET  /v1/apps/{app_id}/jwks.json  (no credentials)
                                       POST|GET /v1/users   GET|DELETE /v1/users/{id}
                                       POST /v1/users/email/address   POST /v1/users/{id}/wallets
                                       POST|GET /v1/wallets   GET|PATCH /v1/wallets/{id}
                                       POST /v1/wallets/{id}/rpc
                                       POST /v1/key_quorums   GET /v1/key_quorums/{id}

One-time codes go to the devnet mailbox (admin `GET /mailbox?email=`) and the devnet log. Access
tokens are ES256 JWTs (iss "privy.io", aud = app id, sub = did:privy:…, sid, iat, exp = iat + 1 h,
kid in the header) that verify against the JWKS. Wallets with an owner or additional signers need
a `privy-authorization-signature` on `/rpc` (see `authorization`). The app id, app secret and first
signing key derive from the devnet seed; codes, users, wallets and their keys are random.
"""

from __future__ import annotations

from devnet.privy.app import create_app
from devnet.privy.codes import CodePolicy
from devnet.privy.service import PrivyService

__all__ = ["CodePolicy", "PrivyService", "create_app"]
