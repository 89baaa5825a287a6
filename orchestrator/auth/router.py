"""The sign-in API: email code through Privy, then a server-side session in an HttpOnly cookie.

    GET  /api/v1/auth/csrf                 sets the `basis_csrf` cookie for a visitor, returns it
    GET  /api/v1/auth/privy/config                                 → {app_id, auth_url} for the SDK
    POST /api/v1/auth/privy/session        {access_token, remember} → session + CSRF cookies
    POST /api/v1/auth/privy/initiate       {email}                 → 202, a code is on its way
    POST /api/v1/auth/privy/verify         {email, code, remember} → session + CSRF cookies
    POST /api/v1/auth/logout                                       → 204, cookies cleared
    GET  /api/v1/auth/me                                           → {user_id, expires_at} | 401

The portal page signs in on Privy's supported path: Privy's browser SDK (portal-sdk/)
sends and checks the code against Privy's auth API from the page's own origin, and the page posts the
access token it got to `/privy/session`, which verifies it (ES256, the app's JWKS, iss, aud, exp;
401 with the reason otherwise) and reads the user with the app secret. `initiate`/`verify` are the
older server-driven path (see privy.py), served on the devnet only (`SignIn.server_codes`; 410
elsewhere) until their tests move.

The code request of the server-driven path opens a sign-in flow bound to this browser (cookie
`basis_signin`); the limits on wrong codes and on code requests, and why the owner's right code
passes them, are in rate_limit.py. On the page's path Privy itself limits codes.

The routes take what they work with (`SignIn`: Privy, the session store, the user directory, the rate
limiter) through dependencies; `install_sign_in` puts them on an app. Other routes take the signed-in
user's id through `current_user` (`CurrentUser`).

CSRF: every state-changing request carries `X-CSRF-Token` equal to the `basis_csrf` cookie
(double submit, constant-time compare); with a session, it must also equal that session's own
token, so a cookie planted from a sibling domain does not pass. Missing or wrong → 403.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from orchestrator.auth.emails import InvalidInput, normalise_code, normalise_email
from orchestrator.auth.privy import (
    InvalidAccessToken,
    InvalidCode,
    PrivyClient,
    PrivyError,
    PrivyUser,
    RateLimited,
)
from orchestrator.auth.rate_limit import (
    FLOW_TTL,
    Attempt,
    Limit,
    Limited,
    RateLimiter,
    initiate_checks,
    verify_checks,
)
from orchestrator.auth.sessions import ActiveSession, SessionStore
from orchestrator.errors import ErrorBody
from shared.logging import get_logger

log = get_logger("orchestrator.auth")

SESSION_COOKIE = "basis_session"
CSRF_COOKIE = "basis_csrf"
FLOW_COOKIE = "basis_signin"
FLOW_COOKIE_PATH = "/api/v1/auth/privy"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SignedInUser:
    user_id: str
    is_new: bool
    tenant_id: str | None


class UserDirectory(Protocol):
    """The core's users: find or create the user for a Privy identity (wallets, tenant, bot)."""

    async def sign_in(self, privy_user: PrivyUser) -> SignedInUser: ...


class InitiateBody(BaseModel):
    email: str = Field(max_length=1000)


class SessionBody(BaseModel):
    # Privy's access tokens are a few hundred bytes; the bound keeps a body from costing more.
    access_token: str = Field(min_length=1, max_length=4096)
    remember: bool = False


class VerifyBody(BaseModel):
    email: str = Field(max_length=1000)
    code: str = Field(max_length=100)
    remember: bool = False


# Documented so the schema tells the truth: our own 422s carry a sentence, not FastAPI's list.
INVALID_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The email address or code is not valid, and why."}
}


def _fail(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def _client(request: Request) -> str:
    # The peer, or behind a trusted reverse proxy the client it reports (request_origin.py
    # rewrites the scope); limits count its network.
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class SignIn:
    """What the sign-in routes work with, installed on an app with `install_sign_in`."""

    privy: PrivyClient
    sessions: SessionStore
    users: UserDirectory
    limiter: RateLimiter
    # True: session cookies always `Secure` (users come over https only); None: when the request did.
    cookie_secure: bool | None = None
    # The server-driven sign-in (`/privy/initiate`, `/privy/verify`) calls Privy's client API from
    # the server, which a production Privy app refuses (allowed origins, captcha): served on the
    # devnet only; elsewhere those routes answer 410 and the page's path is the only one.
    server_codes: bool = False

    def secure(self, request: Request) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else request.url.scheme == "https"


router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def install_sign_in(app: FastAPI, sign_in: SignIn) -> None:
    """The sign-in routes on `app`, and `current_user` for the app's other routes."""
    app.state.sign_in = sign_in
    app.include_router(router)


def sign_in_of(request: Request) -> SignIn:
    return request.app.state.sign_in  # type: ignore[no-any-return]


SignInDep = Annotated[SignIn, Depends(sign_in_of)]


def session_of(sessions: SessionStore, request: Request) -> ActiveSession | None:
    return sessions.get(request.cookies.get(SESSION_COOKIE))


def check_csrf(request: Request, session: ActiveSession | None) -> None:
    """403 unless a state-changing request proves it was sent by our own page."""
    if request.method in SAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not header or not cookie or not hmac.compare_digest(header.encode(), cookie.encode()):
        raise _fail(403, "This request needs the X-CSRF-Token header matching the basis_csrf cookie.")
    if session is not None and not hmac.compare_digest(header.encode(), session.csrf_token.encode()):
        raise _fail(403, "The CSRF token does not belong to this session; reload the page.")


async def current_user(request: Request, sign_in: SignInDep) -> str:
    """A dependency: the signed-in user's id, or 401 (403 on a state change without CSRF)."""
    session = await run_in_threadpool(session_of, sign_in.sessions, request)
    if session is None:
        raise _fail(401, "Sign in first.")
    check_csrf(request, session)
    return session.user_id


CurrentUser = Annotated[str, Depends(current_user)]


async def anonymous_csrf(request: Request, sign_in: SignInDep) -> ActiveSession | None:
    """A dependency of the sign-in forms: CSRF checked, for a visitor too; their session, if any."""
    session = await run_in_threadpool(session_of, sign_in.sessions, request)
    check_csrf(request, session)
    return session


def _set_cookie(
    response: Response, name: str, value: str, max_age: int | None, *, http_only: bool, secure: bool
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=http_only, samesite="lax", secure=secure
    )


def _set_flow_cookie(response: Response, token: str, secure: bool) -> None:
    # Sent only to the sign-in routes, never to a bot (path) nor with another site's request.
    response.set_cookie(
        FLOW_COOKIE,
        token,
        max_age=int(FLOW_TTL.total_seconds()),
        path=FLOW_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def _clear_flow_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(
        FLOW_COOKIE, path=FLOW_COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


def _clear_cookies(response: Response, secure: bool) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", httponly=http_only, samesite="lax", secure=secure)


async def _limited(limiter: RateLimiter, checks: list[tuple[Limit, str]]) -> Attempt:
    """Count this attempt under every limit, atomically (racing requests cannot all pass), or 429."""
    try:
        return await run_in_threadpool(limiter.acquire, checks)
    except Limited as exc:
        wait = exc.retry_after_s
        advice = exc.limit.advice if exc.limit is not None else "Too many attempts; try again in {wait}."
        raise _fail(429, advice.format(wait=_minutes(wait)), {"Retry-After": str(wait)}) from None


@router.get("/csrf")
async def csrf(request: Request, response: Response, sign_in: SignInDep) -> dict[str, str]:
    """The visitor's CSRF token (reused if the cookie already holds one), for the sign-in forms."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    _set_cookie(response, CSRF_COOKIE, token, None, http_only=False, secure=sign_in.secure(request))
    return {"csrf_token": token}


@router.post(
    "/privy/initiate", status_code=202, dependencies=[Depends(anonymous_csrf)], responses=INVALID_INPUT
)
async def initiate(
    body: InitiateBody, request: Request, response: Response, sign_in: SignInDep
) -> dict[str, str]:
    _server_codes(sign_in)
    email = _email(body.email)
    client = _client(request)
    await _limited(sign_in.limiter, initiate_checks(email, client))
    try:
        await sign_in.privy.initiate(email)
    except RateLimited as exc:
        raise _too_many(exc) from None
    except PrivyError as exc:
        raise _upstream(exc) from None
    # This browser asked for the newest code: its flow is the email's current one.
    token = await run_in_threadpool(sign_in.limiter.open_flow, email)
    _set_flow_cookie(response, token, sign_in.secure(request))
    log.info("sign-in code sent", client=client)
    return {"status": "sent", "email": email}


@router.post("/privy/verify", responses=INVALID_INPUT)
async def verify(
    body: VerifyBody,
    request: Request,
    response: Response,
    sign_in: SignInDep,
    previous: ActiveSession | None = Depends(anonymous_csrf),
) -> dict[str, object]:
    _server_codes(sign_in)
    email = _email(body.email)
    try:
        code = normalise_code(body.code)
    except InvalidInput as exc:
        raise _fail(422, str(exc)) from None
    flow_token = request.cookies.get(FLOW_COOKIE)
    privy_user = await _verified(sign_in, email, code, _client(request), flow_token)
    _clear_flow_cookie(response, sign_in.secure(request))
    return await _open_session(sign_in, request, response, privy_user, body.remember, previous)


def _server_codes(sign_in: SignIn) -> None:
    if not sign_in.server_codes:
        raise _fail(
            410,
            "Sign in from the portal page: Privy's own sign-in in the browser sends and checks the code.",
        )


@router.get("/privy/config")
async def privy_config(sign_in: SignInDep) -> dict[str, str]:
    """What the page's Privy SDK needs: the app id and the auth API's URL (neither is a secret)."""
    return {"app_id": sign_in.privy.app_id, "auth_url": sign_in.privy.auth_url}


@router.post("/privy/session", responses=INVALID_INPUT)
async def privy_session(
    body: SessionBody,
    request: Request,
    response: Response,
    sign_in: SignInDep,
    previous: ActiveSession | None = Depends(anonymous_csrf),
) -> dict[str, object]:
    """Sign in with the access token Privy's SDK got on the page: 401 with the reason if it does not
    verify; the user and their wallets made on a first sign-in."""
    try:
        privy_user = await sign_in.privy.user_from_token(body.access_token)
    except InvalidAccessToken as exc:
        log.info("privy access token refused", client=_client(request), reason=exc.message)
        raise _fail(401, exc.message) from None
    except RateLimited as exc:
        raise _too_many(exc) from None
    except PrivyError as exc:
        raise _upstream(exc) from None
    return await _open_session(sign_in, request, response, privy_user, body.remember, previous)


async def _open_session(
    sign_in: SignIn,
    request: Request,
    response: Response,
    privy_user: PrivyUser,
    remember: bool,
    previous: ActiveSession | None,
) -> dict[str, object]:
    """The core's user for `privy_user` signed in: a new session and its CSRF token in cookies."""
    secure = sign_in.secure(request)
    signed_in = await _signed_in(sign_in, privy_user)
    if previous is not None:  # a new sign-in replaces whatever session this browser had
        await run_in_threadpool(sign_in.sessions.delete, request.cookies.get(SESSION_COOKIE))
    new = await run_in_threadpool(lambda: sign_in.sessions.create(signed_in.user_id, remember=remember))
    _set_cookie(response, SESSION_COOKIE, new.cookie_value, new.max_age_s, http_only=True, secure=secure)
    _set_cookie(response, CSRF_COOKIE, new.csrf_token, new.max_age_s, http_only=False, secure=secure)
    log.info("signed in", user_id=signed_in.user_id, new_user=signed_in.is_new, remember=remember)
    return {
        "user_id": signed_in.user_id,
        "is_new": signed_in.is_new,
        "tenant_id": signed_in.tenant_id,
        "csrf_token": new.csrf_token,
        "expires_at": new.expires_at.isoformat(),
    }


async def _verified(sign_in: SignIn, email: str, code: str, client: str, flow_token: str | None) -> PrivyUser:
    """The Privy user whose code this is, counted against the limits first; the flow closed after."""
    flow = await run_in_threadpool(sign_in.limiter.current_flow, email, flow_token)
    # Counted before Privy is asked, so parallel guesses cannot all get through; only a wrong
    # code keeps counting.
    attempt = await _limited(sign_in.limiter, verify_checks(email, client, flow))
    try:
        privy_user = await sign_in.privy.verify(email, code)
    except InvalidCode:
        log.info("sign-in code refused", client=client)
        raise _fail(
            401, "That code is wrong or has expired; check the latest email or send a new code."
        ) from None
    except RateLimited as exc:
        await run_in_threadpool(sign_in.limiter.refund, attempt)
        raise _too_many(exc) from None
    except PrivyError as exc:
        await run_in_threadpool(sign_in.limiter.refund, attempt)
        raise _upstream(exc) from None
    await run_in_threadpool(sign_in.limiter.refund, attempt)
    await run_in_threadpool(sign_in.limiter.close_flow, email, flow_token)
    return privy_user


async def _signed_in(sign_in: SignIn, privy_user: PrivyUser) -> SignedInUser:
    """The core's user for a verified Privy user (made on a first sign-in)."""
    try:
        return await sign_in.users.sign_in(privy_user)
    except HTTPException:  # the directory's own answer (e.g. 503 while a bot starts) stands
        raise
    except Exception:
        log.exception("user directory failed to sign in a verified user", privy_user_id=privy_user.id)
        raise _fail(503, "Your account could not be set up just now; try again in a minute.") from None


@router.post("/logout", status_code=204)
async def logout(request: Request, sign_in: SignInDep) -> Response:
    session = await anonymous_csrf(request, sign_in)
    if session is not None:
        await run_in_threadpool(sign_in.sessions.delete, request.cookies.get(SESSION_COOKIE))
        log.info("signed out", user_id=session.user_id)
    response = Response(status_code=204)
    _clear_cookies(response, sign_in.secure(request))
    return response


@router.get("/me")
async def me(request: Request, sign_in: SignInDep) -> dict[str, object]:
    session = await run_in_threadpool(session_of, sign_in.sessions, request)
    if session is None:
        raise _fail(401, "Sign in first.")
    return {
        "user_id": session.user_id,
        "expires_at": session.expires_at.isoformat(),
        "remember": session.remember,
    }


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except InvalidInput as exc:
        raise _fail(422, str(exc)) from None


def _minutes(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"


def _too_many(exc: PrivyError) -> HTTPException:
    wait = exc.retry_after_s or 60
    return _fail(429, f"Too many attempts; try again in {_minutes(wait)}.", {"Retry-After": str(wait)})


def _upstream(exc: PrivyError) -> HTTPException:
    if exc.status == 400 or exc.status == 422:
        return _fail(422, f"The sign-in service refused this: {exc.message}")
    log.warning("privy refused", status=exc.status, code=exc.code)
    return _fail(503, "Sign-in is unavailable just now; try again in a minute.")
