"""kopf handlers: the only layer that talks to Kubernetes. Thin: decisions live in probe/,
audit/ and api/; handlers read objects, call them, and write status, Events and metrics."""
