"""Physics: the PyBullet humanoid and PhysCap-style refinement of motions (``refine_motion``)."""
