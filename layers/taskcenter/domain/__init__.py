"""Pure domain rules: no AWS SDK, no PynamoDB, no network."""
