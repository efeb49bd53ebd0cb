"""PreviewWorkflow (one per PR) and the plain dataclasses it exchanges. No side effects at import."""
