"""Remote offload, user side: the notebook runner and its wire format (`frames`).

This package imports nothing heavy at import time: the runner runs inside the job's
image with only nbformat, nbclient and ipykernel (and, optionally, nvidia-ml-py).
"""
