"""Pure scheduling logic (no store, no I/O): filters, scores, preemption and messages."""
