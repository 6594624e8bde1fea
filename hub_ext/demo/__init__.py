"""``make demo``: devstack, JupyterHub with the AcceleratorSpawner, and the hub service."""
