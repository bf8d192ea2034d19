"""The decision core: models, the rules of deciding and of state transitions. Pure: no pytest, no I/O."""
