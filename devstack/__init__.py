"""devstack: a single-machine stand-in for a Kubernetes cluster with accelerators.

It holds a Kubernetes API emulator, a scheduler, a process kubelet, InterLink
sites and a simulated NVML library. It is a test and demo double: production
deployments talk to a real cluster instead.
"""
