"""Storage: PynamoDB models and the repositories that use them. The only code that touches DynamoDB."""
