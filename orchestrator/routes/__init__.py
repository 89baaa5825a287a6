"""The control plane's HTTP routes, one module-level router per part; each route takes what it needs
through the dependencies of `orchestrator/context.py` (and the signed-in user through
`orchestrator.auth.router.CurrentUser`). `orchestrator/app.py` includes them.

    health       GET /health, on both listeners
    portal       the page at `/`, its assets, its API, the user's bot's status, `/app` → `/app/`
    withdrawals  the user's withdrawal addresses
    signing      the signing broker, `POST /internal/sign` (internal listener only)
"""
