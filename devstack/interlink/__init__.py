"""InterLink in devstack: the plugin protocol's shapes and a local plugin that runs pods."""
