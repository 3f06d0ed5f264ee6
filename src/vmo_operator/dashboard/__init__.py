"""`vmo dashboard`: a web UI over VMs and the stack that acts as the logged-in user, never as itself.

Pure modules (`views`, `pages`, `sessions`, `actions`) build what a page shows and decide what a
user is offered; `server` and `live` are the thin aiohttp shell that talks to the API server with
the user's own token through the Kubernetes floor. docs/dashboard.md describes the security model.
"""
