"""The offload gateway: sites from InterLink virtual nodes, jobs as pods on them."""
