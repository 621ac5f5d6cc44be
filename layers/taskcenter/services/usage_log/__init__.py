"""The usage log new-api serves (/api/log/self, /api/log/, their /stat), built from the ledger: docs/usage-log.md."""
