"""Training: gradient descent, the remedies as objects, the record of a run and its diagnosis."""
