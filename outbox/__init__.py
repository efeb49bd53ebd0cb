"""The transactional outbox between a GitHub delivery and its PR workflow: rows of
`webhook_deliveries` that ask something of a workflow, written by `enqueue`, sent by `dispatcher`."""
