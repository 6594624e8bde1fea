"""Shipped devstack cluster files."""
