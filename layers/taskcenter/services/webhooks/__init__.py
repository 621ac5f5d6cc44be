"""Webhooks: endpoints per user, signed delivery with retries, the delivery log (docs/webhooks.md)."""
