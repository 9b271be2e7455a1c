"""Exports for other tools: motion to BVH (:mod:`.bvh`) and AMASS ``.npz``
(:func:`wavecap.datasets.motion.save_amass_npz`), the offline student to ONNX
(:mod:`.student_onnx`, needs the ``export`` extra). ``scripts/export.py`` drives them."""

from wavecap.exports.bvh import BVHMotion, bvh_joints_world, read_bvh, write_bvh

__all__ = ["BVHMotion", "bvh_joints_world", "read_bvh", "write_bvh"]
