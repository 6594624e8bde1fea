"""The Kubernetes API emulator: object store, selectors, patches, discovery and HTTP."""
