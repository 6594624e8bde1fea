"""devstack controllers: the scheduler, the process kubelet and the Job controller."""
