"""Task Center shared layer: domain rules, storage (PynamoDB) and upstream providers."""
