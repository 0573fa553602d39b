"""netcore: a NumPy-only neural-network core in the conventions of Stanford CS231n."""
