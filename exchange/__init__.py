"""The composition root: the FastAPI app, the CLI, settings and storage, composed from the
lower packages (schemas, catalogue, policies, adapters)."""
