"""Endpoint and job handlers: thin. Parse the request, call the services, shape the reply.

Every Lambda entry (app.py, functions.jobs, functions.admin) imports this package first, so the
composition root runs here, once: it gives core the platform table (functions/_composition.py).
"""

from functions import _composition

_composition.install()
