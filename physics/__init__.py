"""Physics: the PyBullet articulated humanoid (and, later, physics refinement)."""
