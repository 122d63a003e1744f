"""CycleAug."""
