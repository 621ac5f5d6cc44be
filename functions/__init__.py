"""Endpoint and job handlers: thin. Parse the request, call the domain, shape the reply."""
